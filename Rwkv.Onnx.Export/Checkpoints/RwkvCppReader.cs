using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// Reads rwkv.cpp's <c>.bin</c> format: a 24-byte header, then records of
/// (dim_count, name_length, type, dims innermost-first, name, data) to the end of the file.
/// Only the record headers are read at open; tensor data is read from the file on demand.
/// FP32, FP16 and the block-quantized Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 (dequantized to float32 on read;
/// file version 101 only, as in rwkv.cpp).
/// </summary>
public sealed class RwkvCppReader : ICheckpointReader
{
    /// <summary>The header's magic number, <c>fmgg</c> on disk.</summary>
    public const uint Magic = 0x67676d66;

    private const int MaxNameLength = 1 << 12;

    // rwkv.cpp's type codes, by code: 4, 5 and 6 are formats rwkv.cpp removed.
    private static readonly string[] s_typeNames = ["FP32", "FP16", "Q4_0", "Q4_1", "Q4_1_O", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0"];
    private readonly SafeFileHandle _handle;
    private readonly List<CheckpointTensor> _tensors = [];

    private RwkvCppReader(string path, SafeFileHandle handle)
    {
        Path = path;
        _handle = handle;
    }

    /// <inheritdoc/>
    public string Path { get; }

    /// <inheritdoc/>
    public string Format => "rwkv.cpp";

    /// <summary>File version from the header: 100 or 101.</summary>
    public int FileVersion { get; private set; }

    /// <summary>n_vocab from the header.</summary>
    public int VocabSize { get; private set; }

    /// <summary>n_embed from the header.</summary>
    public int EmbeddingSize { get; private set; }

    /// <summary>n_layer from the header.</summary>
    public int LayerCount { get; private set; }

    /// <summary>
    /// data_type from the header: the rwkv.cpp type code of most parameters (0 FP32, 1 FP16, 2 Q4_0, 3 Q4_1,
    /// 7 Q5_0, 8 Q5_1, 9 Q8_0). Checked against the tensors by <see cref="CheckHeader"/>, not at open.
    /// </summary>
    public int DataTypeCode { get; private set; }

    /// <inheritdoc/>
    public IReadOnlyList<CheckpointTensor> Tensors => _tensors;

    /// <summary>True when the file starts with rwkv.cpp's magic number.</summary>
    public static bool IsRwkvCppFile(string path)
    {
        using FileStream stream = File.OpenRead(path);
        Span<byte> magic = stackalloc byte[4];
        return stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && BinaryPrimitives.ReadUInt32LittleEndian(magic) == Magic;
    }

    /// <summary>Opens a file and reads its tensor directory.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="CheckpointFormatException">The file is not a valid rwkv.cpp model.</exception>
    public static RwkvCppReader Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Checkpoint '{path}' does not exist.", path);
        }
        SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        var reader = new RwkvCppReader(path, handle);
        try
        {
            reader.ReadDirectory();
            return reader;
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    private void ReadDirectory()
    {
        long length = RandomAccess.GetLength(_handle);
        Span<byte> header = stackalloc byte[24];
        if (length < header.Length || RandomAccess.Read(_handle, header, 0) != header.Length)
        {
            throw Error(null, $"is truncated: it is {length} bytes long, shorter than the 24-byte rwkv.cpp header");
        }
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(header);
        if (magic != Magic)
        {
            throw Error(null, $"does not start with rwkv.cpp's magic 0x{Magic:x8} ('fmgg'); found 0x{magic:x8}");
        }
        FileVersion = BinaryPrimitives.ReadInt32LittleEndian(header[4..]);
        if (FileVersion is not (100 or 101))
        {
            throw Error(null, $"has file version {FileVersion}; expected 100 or 101");
        }
        VocabSize = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
        EmbeddingSize = BinaryPrimitives.ReadInt32LittleEndian(header[12..]);
        LayerCount = BinaryPrimitives.ReadInt32LittleEndian(header[16..]);
        DataTypeCode = BinaryPrimitives.ReadInt32LittleEndian(header[20..]);
        if (VocabSize <= 0 || EmbeddingSize <= 0 || LayerCount <= 0)
        {
            throw Error(null, $"has an invalid header: n_vocab {VocabSize}, n_embed {EmbeddingSize}, n_layer {LayerCount}");
        }

        long offset = header.Length;
        Span<byte> record = stackalloc byte[12 + 3 * 4];
        var names = new HashSet<string>(StringComparer.Ordinal);
        while (offset < length)
        {
            if (length - offset < 12 || RandomAccess.Read(_handle, record[..12], offset) != 12)
            {
                throw Error(null, $"is truncated: a tensor record header at byte {offset} is incomplete");
            }
            int dimCount = BinaryPrimitives.ReadInt32LittleEndian(record);
            int nameLength = BinaryPrimitives.ReadInt32LittleEndian(record[4..]);
            int typeCode = BinaryPrimitives.ReadInt32LittleEndian(record[8..]);
            if (dimCount is < 1 or > 3)
            {
                throw Error(null, $"has a tensor record at byte {offset} with {dimCount} dimensions; expected 1 to 3");
            }
            if (nameLength is < 1 or > MaxNameLength)
            {
                throw Error(null, $"has a tensor record at byte {offset} with a name of {nameLength} bytes; expected 1 to {MaxNameLength}");
            }
            long position = offset + 12;
            Span<byte> dimBytes = record[12..(12 + 4 * dimCount)];
            if (RandomAccess.Read(_handle, dimBytes, position) != dimBytes.Length)
            {
                throw Error(null, $"is truncated inside the tensor record at byte {offset}");
            }
            position += dimBytes.Length;
            byte[] nameBytes = new byte[nameLength];
            if (RandomAccess.Read(_handle, nameBytes, position) != nameLength)
            {
                throw Error(null, $"is truncated inside the name of the tensor record at byte {offset}");
            }
            position += nameLength;
            string name = DecodeName(nameBytes, offset);

            var shape = new long[dimCount];
            for (int i = 0; i < dimCount; i++)
            {
                int dim = BinaryPrimitives.ReadInt32LittleEndian(dimBytes[(4 * i)..]);
                if (dim <= 0)
                {
                    throw Error(name, $"declares dimension {dim} for tensor '{name}'; dimensions must be positive");
                }
                shape[dimCount - 1 - i] = dim; // the file lists the innermost dimension first
            }
            TensorDType dtype = typeCode switch
            {
                0 => TensorDType.Float32,
                1 => TensorDType.Float16,
                2 => TensorDType.Q4_0,
                3 => TensorDType.Q4_1,
                7 => TensorDType.Q5_0,
                8 => TensorDType.Q5_1,
                9 => TensorDType.Q8_0,
                4 or 5 or 6 => throw Error(name, $"stores tensor '{name}' with type code {typeCode} (Q4_1_O, Q4_2 or Q4_3), formats rwkv.cpp removed; re-quantize the model"),
                _ => throw Error(name, $"stores tensor '{name}' with unknown type code {typeCode}; expected 0 (FP32), 1 (FP16), 2 (Q4_0), 3 (Q4_1), 7 (Q5_0), 8 (Q5_1) or 9 (Q8_0)"),
            };
            long elements = 1;
            foreach (long d in shape)
            {
                elements = elements <= (length - position) * 2 / d + 1 ? elements * d : long.MaxValue; // 3 dims < 2^31 could overflow
            }
            if (elements > (length - position) * 2)
            {
                // Every type needs at least 18 bytes per 32 elements: more than 2 elements per remaining byte cannot fit.
                throw Error(name, $"is truncated: tensor '{name}' {CheckpointTensor.FormatShape(shape)} needs more than the {length - position} bytes that remain at byte {position}");
            }
            long bytes;
            if (QuantizedBlocks.IsQuantized(dtype))
            {
                if (FileVersion == 100)
                {
                    throw Error(name, $"is an rwkv.cpp version-100 file but stores tensor '{name}' as {dtype}; rwkv.cpp refuses quantized tensors in version-100 files (their block layout predates ggml's 2023-05 change), so re-quantize the model from FP32 or FP16");
                }
                if (shape[^1] % QuantizedBlocks.BlockElements != 0)
                {
                    throw Error(name, $"stores tensor '{name}' {CheckpointTensor.FormatShape(shape)} as {dtype}, but its rows of {shape[^1]} are not a multiple of the {QuantizedBlocks.BlockElements}-weight block");
                }
                bytes = elements / QuantizedBlocks.BlockElements * QuantizedBlocks.BlockBytes(dtype);
            }
            else
            {
                bytes = elements * TensorDecoding.ElementSize(dtype);
            }
            if (bytes > length - position)
            {
                throw Error(name, $"is truncated: tensor '{name}' {CheckpointTensor.FormatShape(shape)} needs {bytes} bytes at byte {position}, but only {length - position} remain");
            }
            if (!names.Add(name))
            {
                throw Error(name, $"holds tensor '{name}' twice");
            }
            _tensors.Add(new FileTensor(this, name, dtype, shape, position));
            offset = position + bytes;
        }
        if (_tensors.Count == 0)
        {
            throw Error(null, "holds no tensors");
        }
    }

    /// <summary>
    /// Checks the header's n_vocab, n_embed, n_layer and data_type against what the tensors imply: the shape of
    /// <c>emb.weight</c> (<c>[n_vocab, n_embed]</c>), the number of <c>blocks.{i}</c>, and the lowest-precision type
    /// the tensors use (rwkv.cpp keeps 1-D and <c>.time_</c> tensors in FP32 whatever the data type). Not done at
    /// <see cref="Open"/>, so that files holding only some tensors stay readable; a missing <c>emb.weight</c> is left
    /// to the architecture check, which names it.
    /// </summary>
    /// <exception cref="CheckpointFormatException">A header field contradicts the tensors; the message names the
    /// field, its value and the value the tensors imply.</exception>
    public void CheckHeader()
    {
        if (_tensors.Find(t => t.Name == "emb.weight") is { Shape.Count: 2 } emb)
        {
            CheckField("n_vocab", VocabSize, emb.Shape[0], $"tensor 'emb.weight' has shape {emb.ShapeText}");
            CheckField("n_embed", EmbeddingSize, emb.Shape[1], $"tensor 'emb.weight' has shape {emb.ShapeText}");
        }
        long blocks = 0;
        foreach (CheckpointTensor t in _tensors)
        {
            if (LayerIndex(t.Name) is { } index)
            {
                blocks = Math.Max(blocks, index + 1);
            }
        }
        CheckField("n_layer", LayerCount, blocks, blocks == 0 ? "no tensor name starts with 'blocks.{i}.'" : $"the last block is 'blocks.{blocks - 1}'");
        CheckDataType();
    }

    private void CheckField(string field, long header, long implied, string because)
    {
        if (header != implied)
        {
            throw Error(null, $"has a header that says {field} {header}, but its tensors imply {implied} ({because}); the header or the tensors are corrupt");
        }
    }

    // The header names the type of the quantized (or FP16) matrices; the rest stay FP32 (or FP16 when quantizing an
    // FP16 model). So the header's type must occur, and no tensor may be stored in a lower precision than it.
    private void CheckDataType()
    {
        CheckpointTensor? lowest = _tensors.Find(t => QuantizedBlocks.IsQuantized(t.DType))
            ?? _tensors.Find(t => t.DType == TensorDType.Float16);
        int implied = lowest is null ? 0 : TypeCode(lowest.DType);
        bool headerQuantized = DataTypeCode is 2 or 3 or 7 or 8 or 9;
        bool present = _tensors.Exists(t => TypeCode(t.DType) == DataTypeCode);
        bool consistent = present && (headerQuantized || implied <= DataTypeCode);
        if (!consistent)
        {
            string why = present
                ? $"tensor '{lowest!.Name}' is stored as {TypeName(implied)}" // present but not consistent: lowest is lower than the header
                : $"no tensor is stored as {TypeName(DataTypeCode)}";
            throw Error(null, $"has a header that says data_type {DataTypeCode} ({TypeName(DataTypeCode)}), but its tensors imply {implied} ({TypeName(implied)}): {why}; the header or the tensors are corrupt");
        }
    }

    private static long? LayerIndex(string name)
    {
        const string Prefix = "blocks.";
        if (!name.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return null;
        }
        int end = name.IndexOf('.', Prefix.Length);
        ReadOnlySpan<char> digits = end < 0 ? name.AsSpan(Prefix.Length) : name.AsSpan(Prefix.Length, end - Prefix.Length);
        return int.TryParse(digits, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int index) ? index : null;
    }

    private static int TypeCode(TensorDType dtype) => dtype switch
    {
        TensorDType.Float32 => 0,
        TensorDType.Float16 => 1,
        TensorDType.Q4_0 => 2,
        TensorDType.Q4_1 => 3,
        TensorDType.Q5_0 => 7,
        TensorDType.Q5_1 => 8,
        TensorDType.Q8_0 => 9,
        _ => throw new InvalidOperationException($"Unreachable: the reader creates no {dtype} tensors."),
    };

    private static string TypeName(int code) => code >= 0 && code < s_typeNames.Length ? s_typeNames[code] : "unknown";

    private string DecodeName(byte[] bytes, long offset)
    {
        try
        {
            return new UTF8Encoding(false, true).GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new CheckpointFormatException(Path, null, $"Checkpoint '{Path}' has a tensor record at byte {offset} whose name is not UTF-8.", e);
        }
    }

    private CheckpointFormatException Error(string? tensor, string what) =>
        new(Path, tensor, $"Checkpoint '{Path}' {what}.");

    /// <inheritdoc/>
    public void Dispose() => _handle.Dispose();

    private sealed class FileTensor(RwkvCppReader owner, string name, TensorDType dtype, long[] shape, long dataOffset)
        : CheckpointTensor(name, dtype, shape)
    {
        private const int ChunkElements = 1 << 16;

        protected override void ReadCore(Span<float> destination)
        {
            ObjectDisposedException.ThrowIf(owner._handle.IsClosed, owner);
            if (DType == TensorDType.Float32 && BitConverter.IsLittleEndian)
            {
                ReadExactly(MemoryMarshal.AsBytes(destination), dataOffset);
                return;
            }
            // Chunks of whole blocks (quantized) or of elements; a chunk never splits a block.
            bool quantized = QuantizedBlocks.IsQuantized(DType);
            int unitElements = quantized ? QuantizedBlocks.BlockElements : 1;
            int unitBytes = quantized ? QuantizedBlocks.BlockBytes(DType) : TensorDecoding.ElementSize(DType);
            int chunkUnits = ChunkElements / unitElements;
            byte[] buffer = ArrayPool<byte>.Shared.Rent(chunkUnits * unitBytes);
            try
            {
                long unitCount = destination.Length / unitElements;
                for (long start = 0; start < unitCount; start += chunkUnits)
                {
                    int count = (int)Math.Min(chunkUnits, unitCount - start);
                    Span<byte> bytes = buffer.AsSpan(0, count * unitBytes);
                    ReadExactly(bytes, dataOffset + (start * unitBytes));
                    Span<float> target = destination.Slice((int)(start * unitElements), count * unitElements);
                    if (quantized)
                    {
                        QuantizedBlocks.Dequantize(bytes, DType, target);
                    }
                    else
                    {
                        TensorDecoding.Decode(bytes, DType, target);
                    }
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        private void ReadExactly(Span<byte> bytes, long offset)
        {
            while (!bytes.IsEmpty)
            {
                int read = RandomAccess.Read(owner._handle, bytes, offset);
                if (read <= 0)
                {
                    throw new CheckpointFormatException(owner.Path, Name, $"Checkpoint '{owner.Path}' ended while reading tensor '{Name}'.");
                }
                bytes = bytes[read..];
                offset += read;
            }
        }
    }
}

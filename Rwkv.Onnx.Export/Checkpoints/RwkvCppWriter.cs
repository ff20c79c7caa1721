using System.Buffers.Binary;
using System.Text;
namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// Writes rwkv.cpp <c>.bin</c> files (format in <c>shared/fixtures/README.md</c>): a 24-byte header
/// (magic, file version, n_vocab, n_embed, n_layer, type), then one record per tensor:
/// dim_count, name_length, type code, dims innermost-first, name, data. FP32 (code 0) and FP16 (code 1)
/// from float values, or any type code from raw bytes (<see cref="RawTensor"/>, e.g. hand-made quantized blocks).
/// Writes exactly what it is given: the tensors must already be in rwkv.cpp's layout. Streams: each
/// record is written as the enumeration yields it, its data in small chunks, so a model larger than
/// memory can be written one tensor at a time.
/// </summary>
internal static class RwkvCppWriter
{
    /// <summary>Size of the file header in bytes.</summary>
    public const int HeaderSize = 24;

    /// <summary>Writes a model file.</summary>
    /// <param name="path">The file to create (overwritten if it exists).</param>
    /// <param name="vocabSize">n_vocab in the header.</param>
    /// <param name="embeddingSize">n_embed in the header.</param>
    /// <param name="layerCount">n_layer in the header.</param>
    /// <param name="fileType">The header's data_type: the type of the matrices (each record carries its own; <see cref="RwkvCppReader.CheckHeader"/> refuses a header its records contradict).</param>
    /// <param name="tensors">Records in file order, in rwkv.cpp's layout.</param>
    /// <param name="fileVersion">100 or 101.</param>
    public static void Write(
        string path, int vocabSize, int embeddingSize, int layerCount, TensorDType fileType,
        IEnumerable<Tensor> tensors, int fileVersion = 101)
    {
        using FileStream stream = File.Create(path);
        Write(stream, vocabSize, embeddingSize, layerCount, fileType, tensors, fileVersion);
    }

    /// <summary>Writes a model to <paramref name="stream"/>; see <see cref="Write(string, int, int, int, TensorDType, IEnumerable{Tensor}, int)"/>.</summary>
    public static void Write(
        Stream stream, int vocabSize, int embeddingSize, int layerCount, TensorDType fileType,
        IEnumerable<Tensor> tensors, int fileVersion = 101)
    {
        Span<byte> header = stackalloc byte[HeaderSize];
        BinaryPrimitives.WriteUInt32LittleEndian(header, RwkvCppReader.Magic);
        BinaryPrimitives.WriteInt32LittleEndian(header[4..], fileVersion);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], vocabSize);
        BinaryPrimitives.WriteInt32LittleEndian(header[12..], embeddingSize);
        BinaryPrimitives.WriteInt32LittleEndian(header[16..], layerCount);
        BinaryPrimitives.WriteInt32LittleEndian(header[20..], TypeCode(fileType));
        stream.Write(header);
        foreach (Tensor tensor in tensors)
        {
            WriteRecord(stream, tensor);
        }
    }

    /// <summary>Writes a model whose records carry raw data with any type code (no check that sizes fit the type).</summary>
    public static void WriteRaw(string path, int vocabSize, int embeddingSize, int layerCount, int fileTypeCode, IEnumerable<RawTensor> tensors, int fileVersion = 101)
    {
        using FileStream stream = File.Create(path);
        Span<byte> header = stackalloc byte[HeaderSize];
        BinaryPrimitives.WriteUInt32LittleEndian(header, RwkvCppReader.Magic);
        BinaryPrimitives.WriteInt32LittleEndian(header[4..], fileVersion);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], vocabSize);
        BinaryPrimitives.WriteInt32LittleEndian(header[12..], embeddingSize);
        BinaryPrimitives.WriteInt32LittleEndian(header[16..], layerCount);
        BinaryPrimitives.WriteInt32LittleEndian(header[20..], fileTypeCode);
        stream.Write(header);
        foreach (RawTensor tensor in tensors)
        {
            byte[] name = Encoding.UTF8.GetBytes(tensor.Name);
            var recordHeader = new byte[12 + 4 * tensor.Shape.Length];
            BinaryPrimitives.WriteInt32LittleEndian(recordHeader, tensor.Shape.Length);
            BinaryPrimitives.WriteInt32LittleEndian(recordHeader.AsSpan(4), name.Length);
            BinaryPrimitives.WriteInt32LittleEndian(recordHeader.AsSpan(8), tensor.TypeCode);
            for (int i = 0; i < tensor.Shape.Length; i++)
            {
                BinaryPrimitives.WriteInt32LittleEndian(recordHeader.AsSpan(12 + 4 * i), tensor.Shape[^(i + 1)]);
            }
            stream.Write(recordHeader);
            stream.Write(name);
            stream.Write(tensor.Data);
        }
    }

    /// <summary>Bytes of the record header of <paramref name="tensor"/> (everything before its data).</summary>
    public static int RecordHeaderSize(Tensor tensor) => 12 + 4 * tensor.Shape.Length + Encoding.UTF8.GetByteCount(tensor.Name);

    /// <summary>Bytes of the data of <paramref name="tensor"/>.</summary>
    public static long DataSize(Tensor tensor) => (long)tensor.Data.Length * ElementSize(tensor.DType);

    private static int ElementSize(TensorDType dtype) => dtype == TensorDType.Float16 ? 2 : 4;

    private static void WriteRecord(Stream stream, Tensor tensor)
    {
        if (tensor.Shape.Length is < 1 or > 3)
        {
            throw new ArgumentException($"Tensor '{tensor.Name}' has {tensor.Shape.Length} dimensions; rwkv.cpp stores 1 to 3.", nameof(tensor));
        }
        long count = 1;
        foreach (int d in tensor.Shape)
        {
            count *= d;
        }
        if (count != tensor.Data.Length)
        {
            throw new ArgumentException(
                $"Tensor '{tensor.Name}' has shape {CheckpointTensor.FormatShape(tensor.Shape.Select(d => (long)d))} ({count} elements) but {tensor.Data.Length} values.",
                nameof(tensor));
        }

        byte[] name = Encoding.UTF8.GetBytes(tensor.Name);
        var recordHeader = new byte[12 + 4 * tensor.Shape.Length];
        BinaryPrimitives.WriteInt32LittleEndian(recordHeader, tensor.Shape.Length);
        BinaryPrimitives.WriteInt32LittleEndian(recordHeader.AsSpan(4), name.Length);
        BinaryPrimitives.WriteInt32LittleEndian(recordHeader.AsSpan(8), TypeCode(tensor.DType));
        for (int i = 0; i < tensor.Shape.Length; i++)
        {
            // innermost (last PyTorch) dimension first
            BinaryPrimitives.WriteInt32LittleEndian(recordHeader.AsSpan(12 + 4 * i), tensor.Shape[^(i + 1)]);
        }
        stream.Write(recordHeader);
        stream.Write(name);

        const int ChunkElements = 1 << 16;
        int elementSize = ElementSize(tensor.DType);
        var chunk = new byte[ChunkElements * elementSize];
        for (int start = 0; start < tensor.Data.Length; start += ChunkElements)
        {
            int length = Math.Min(ChunkElements, tensor.Data.Length - start);
            for (int i = 0; i < length; i++)
            {
                float value = tensor.Data[start + i];
                if (tensor.DType == TensorDType.Float16)
                {
                    BinaryPrimitives.WriteHalfLittleEndian(chunk.AsSpan(2 * i), (Half)value);
                }
                else
                {
                    BinaryPrimitives.WriteSingleLittleEndian(chunk.AsSpan(4 * i), value);
                }
            }
            stream.Write(chunk, 0, length * elementSize);
        }
    }

    private static int TypeCode(TensorDType dtype) => dtype switch
    {
        TensorDType.Float32 => 0,
        TensorDType.Float16 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, $"rwkv.cpp files hold FP32 or FP16 here, not {dtype}."),
    };

    /// <summary>One record: name, shape in PyTorch order (outermost first), row-major values, storage type.</summary>
    /// <remarks>FP16 values are rounded to nearest even when written.</remarks>
    internal sealed record Tensor(string Name, int[] Shape, float[] Data, TensorDType DType = TensorDType.Float32);

    /// <summary>One record with raw data: name, shape in PyTorch order, rwkv.cpp type code, the data bytes as stored.</summary>
    internal sealed record RawTensor(string Name, int[] Shape, int TypeCode, byte[] Data);
}

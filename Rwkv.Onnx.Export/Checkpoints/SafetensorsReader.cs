using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Unicode;
using Microsoft.Win32.SafeHandles;

namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// Reads safetensors checkpoints: an 8-byte little-endian header length, a JSON header mapping each
/// tensor name to <c>dtype</c>, <c>shape</c> and <c>data_offsets</c> (relative to the end of the header),
/// then the raw little-endian data. A sharded checkpoint is opened through its
/// <c>model.safetensors.index.json</c>, whose <c>weight_map</c> names the shard of every tensor; the
/// reader then spans every shard. Tensor data stays in the files and is read on demand.
/// </summary>
/// <remarks>Element types F32, F16 and BF16. The header is at most 100 MB.</remarks>
public sealed class SafetensorsReader : ICheckpointReader
{
    /// <summary>The largest header accepted, in bytes.</summary>
    public const long MaxHeaderBytes = 100L << 20;

    private readonly List<SafeFileHandle> _handles = [];
    private readonly List<CheckpointTensor> _tensors = [];
    private readonly List<string> _files = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    private SafetensorsReader(string path) => Path = path;

    /// <summary>The file opened: a <c>.safetensors</c> file or an index.</summary>
    public string Path { get; }

    /// <inheritdoc/>
    public string Format => "safetensors";

    /// <summary>The files the tensors are read from: the file itself, or every shard in index order.</summary>
    /// <remarks>An index file itself holds no tensor data and is not listed.</remarks>
    public IReadOnlyList<string> Files => _files;

    /// <inheritdoc/>
    public IReadOnlyList<CheckpointTensor> Tensors => _tensors;

    /// <summary>
    /// True when <paramref name="head"/>, the first bytes of a file, start like a safetensors file: a header length
    /// from 2 to <see cref="MaxHeaderBytes"/>, then <c>{</c> (or nothing yet, in a file cut after the length).
    /// </summary>
    public static bool HasSafetensorsHeader(ReadOnlySpan<byte> head) =>
        head.Length >= 8 && BinaryPrimitives.ReadUInt64LittleEndian(head) is >= 2 and <= MaxHeaderBytes && (head.Length == 8 || head[8] == (byte)'{');

    /// <summary>
    /// Opens a <c>.safetensors</c> file, or a sharded checkpoint through its index
    /// (a file ending in <c>.index.json</c>), and reads the tensor directory (not the data).
    /// </summary>
    /// <exception cref="FileNotFoundException">The file, or a shard named by the index, does not exist.</exception>
    /// <exception cref="CheckpointFormatException">A header or the index is invalid, truncated or inconsistent with the file.</exception>
    public static SafetensorsReader Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Checkpoint '{path}' does not exist.", path);
        }
        var reader = new SafetensorsReader(path);
        try
        {
            if (path.EndsWith(".index.json", StringComparison.OrdinalIgnoreCase))
            {
                reader.ReadShards(ShardIndex.Read(path));
            }
            else
            {
                reader.ReadFile(path, null);
            }
            if (reader._tensors.Count == 0)
            {
                throw new CheckpointFormatException(path, null, $"Checkpoint '{path}' holds no tensors.");
            }
            return reader;
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    private void ReadShards(ShardIndex index)
    {
        foreach ((string shard, IReadOnlyList<string> names) in index.Shards)
        {
            if (!File.Exists(shard))
            {
                throw new FileNotFoundException($"Shard '{shard}' named by the index '{Path}' does not exist.", shard);
            }
            var wanted = new HashSet<string>(names, StringComparer.Ordinal);
            int before = _tensors.Count;
            ReadFile(shard, wanted);
            if (_tensors.Count - before != wanted.Count)
            {
                var found = new HashSet<string>(_tensors.Skip(before).Select(t => t.Name), StringComparer.Ordinal);
                string missing = wanted.First(n => !found.Contains(n));
                throw new CheckpointFormatException(Path, missing,
                    $"Index '{Path}' places tensor '{missing}' in shard '{shard}', which does not hold it.");
            }
        }
    }

    // Reads one file's header; with a filter, keeps only the named tensors (those the index assigns to this shard).
    private void ReadFile(string file, HashSet<string>? keep)
    {
        SafeFileHandle handle = File.OpenHandle(file, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        _handles.Add(handle);
        _files.Add(file);
        long length = RandomAccess.GetLength(handle);
        Span<byte> prefix = stackalloc byte[8];
        if (length < 8 || RandomAccess.Read(handle, prefix, 0) != 8)
        {
            throw Error(file, null, $"is {length} bytes long, shorter than the 8-byte safetensors header length; it is truncated");
        }
        ulong declared = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (declared > MaxHeaderBytes)
        {
            throw Error(file, null, $"declares a {declared}-byte safetensors header, more than the {MaxHeaderBytes >> 20} MB allowed; it is corrupt or not a safetensors file");
        }
        if ((long)declared > length - 8)
        {
            throw Error(file, null, $"declares a {declared}-byte safetensors header, but only {length - 8} bytes follow; it is truncated");
        }
        byte[] header = new byte[declared];
        ReadExactly(handle, file, header, 8);
        long dataStart = 8 + (long)declared, dataLength = length - dataStart;

        if (!Utf8.IsValid(header))
        {
            // JsonDocument checks the UTF-8 of names and strings only when they are read, and then throws InvalidOperationException.
            throw Error(file, null, "has a safetensors header that is not valid UTF-8");
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(file, null, $"Checkpoint '{file}' has a safetensors header that is not valid JSON: {e.Message}", e);
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw Error(file, null, "has a safetensors header that is not a JSON object");
            }
            var extents = new List<(long Begin, long End, string Name)>();
            foreach (JsonProperty property in document.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    continue;
                }
                (TensorDType dtype, long[] shape, long begin, long end) = ParseEntry(file, property, dataLength);
                extents.Add((begin, end, property.Name));
                if (keep is not null && !keep.Contains(property.Name))
                {
                    continue;
                }
                if (!_names.Add(property.Name))
                {
                    throw Error(file, property.Name, $"holds tensor '{property.Name}' twice (across the shards of '{Path}')");
                }
                var region = new FileByteRegion(handle, this, file, dataStart + begin, end - begin);
                _tensors.Add(new StridedTensor(property.Name, dtype, shape, region, 0, StridedTensor.ContiguousStrides(shape)));
            }
            extents.Sort();
            for (int i = 1; i < extents.Count; i++)
            {
                if (extents[i].Begin < extents[i - 1].End)
                {
                    throw Error(file, extents[i].Name, $"has overlapping data for tensors '{extents[i - 1].Name}' and '{extents[i].Name}'");
                }
            }
        }
    }

    private static (TensorDType, long[], long, long) ParseEntry(string file, JsonProperty property, long dataLength)
    {
        string name = property.Name;
        JsonElement e = property.Value;
        if (e.ValueKind != JsonValueKind.Object
            || !e.TryGetProperty("dtype", out JsonElement dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String
            || !e.TryGetProperty("shape", out JsonElement shapeElement) || shapeElement.ValueKind != JsonValueKind.Array
            || !e.TryGetProperty("data_offsets", out JsonElement offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array || offsetsElement.GetArrayLength() != 2)
        {
            throw Error(file, name, $"has a header entry for '{name}' without a string 'dtype', an array 'shape' and a two-element 'data_offsets'");
        }
        string dtypeName = dtypeElement.GetString()!; // ValueKind is String
        TensorDType dtype = dtypeName switch
        {
            "F32" => TensorDType.Float32,
            "F16" => TensorDType.Float16,
            "BF16" => TensorDType.BFloat16,
            _ => throw Error(file, name, $"stores tensor '{name}' as {dtypeName}; only F32, F16 and BF16 can be read"),
        };
        var shape = new long[shapeElement.GetArrayLength()];
        long count = 1;
        int i = 0;
        foreach (JsonElement dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long d) || d < 0 || d > int.MaxValue)
            {
                throw Error(file, name, $"declares tensor '{name}' with dimension {dim.GetRawText()}; dimensions are integers from 0 to {int.MaxValue}");
            }
            shape[i++] = d;
            count = count > long.MaxValue / Math.Max(d, 1) ? throw Error(file, name, $"declares tensor '{name}' with a shape whose size overflows") : count * d;
        }
        long[] offsets = new long[2];
        i = 0;
        foreach (JsonElement offset in offsetsElement.EnumerateArray())
        {
            offsets[i++] = offset.ValueKind == JsonValueKind.Number && offset.TryGetInt64(out long o) && o >= 0
                ? o
                : throw Error(file, name, $"declares tensor '{name}' with data offset {offset.GetRawText()}; offsets are non-negative integers");
        }
        (long begin, long end) = (offsets[0], offsets[1]);
        if (begin > end)
        {
            throw Error(file, name, $"declares tensor '{name}' with data_offsets [{begin}, {end}], which end before they begin");
        }
        if (end > dataLength)
        {
            throw Error(file, name, $"is truncated: tensor '{name}' needs data bytes up to {end}, but only {dataLength} follow the header");
        }
        int size = TensorDecoding.ElementSize(dtype);
        if (count > long.MaxValue / size || end - begin != count * size)
        {
            throw Error(file, name, $"declares tensor '{name}' {dtypeName} {CheckpointTensor.FormatShape(shape)} with {end - begin} data bytes; its {count} elements need {count * size}");
        }
        return (dtype, shape, begin, end);
    }

    private static void ReadExactly(SafeFileHandle handle, string file, Span<byte> buffer, long offset)
    {
        while (!buffer.IsEmpty)
        {
            int read = RandomAccess.Read(handle, buffer, offset);
            if (read <= 0)
            {
                throw Error(file, null, $"ended at byte {offset} inside its safetensors header; it is truncated");
            }
            buffer = buffer[read..];
            offset += read;
        }
    }

    private static CheckpointFormatException Error(string file, string? tensor, string what) => new(file, tensor, $"Checkpoint '{file}' {what}.");

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (SafeFileHandle handle in _handles)
        {
            handle.Dispose();
        }
    }
}

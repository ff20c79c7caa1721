using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// Reads a PyTorch checkpoint in torch.save's zip format (PyTorch 1.6 and later): BlinkDL/RWKV-LM
/// <c>.pth</c> files and Hugging Face <c>pytorch_model.bin</c>. The archive holds
/// <c>&lt;archive&gt;/data.pkl</c>, a pickled dict of name → tensor, and one entry
/// <c>&lt;archive&gt;/data/&lt;key&gt;</c> per storage. The pickle is read by <see cref="RestrictedUnpickler"/>,
/// which never executes code; storages stay in the file and are read in place (stored entries, as
/// torch.save writes them) or streamed (deflated entries), only when a tensor is read. A deflated entry is
/// decompressed once before its first read (without keeping the bytes) to check its declared size and CRC-32.
/// </summary>
/// <remarks>
/// Tensors may be views: a storage offset and arbitrary non-negative strides (e.g. a transposed
/// matrix, or several tensors sharing one storage). Element types: float32, float16, bfloat16.
/// If the pickled root is not itself a dict of tensors, a dict of tensors under <c>state_dict</c>,
/// <c>model</c> or <c>module</c> is used.
/// </remarks>
public sealed class TorchZipReader : ICheckpointReader
{
    private const long MaxPickleBytes = 256L << 20;
    private static readonly string[] s_containerKeys = ["state_dict", "model", "module"];
    private readonly SafeFileHandle _handle;
    private readonly List<CheckpointTensor> _tensors = [];
    private readonly List<IDisposable> _regions = [];

    private TorchZipReader(string path, SafeFileHandle handle)
    {
        Path = path;
        _handle = handle;
    }

    /// <inheritdoc/>
    public string Path { get; }

    /// <inheritdoc/>
    public string Format => "pth";

    /// <summary>The archive's top folder name (the <c>&lt;archive&gt;</c> of <c>&lt;archive&gt;/data.pkl</c>).</summary>
    public string ArchiveName { get; private set; } = "";

    /// <inheritdoc/>
    public IReadOnlyList<CheckpointTensor> Tensors => _tensors;

    /// <summary>Opens a torch.save zip checkpoint and reads its tensor directory (not the tensor data).</summary>
    /// <param name="path">The <c>.pth</c> or <c>pytorch_model.bin</c> file.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="CheckpointFormatException">
    /// The file is not a valid torch.save zip, is truncated or corrupt, or its pickle names a global outside
    /// the allow-list (loading never executes code).
    /// </exception>
    public static TorchZipReader Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Checkpoint '{path}' does not exist.", path);
        }
        SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        var reader = new TorchZipReader(path, handle);
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
        IReadOnlyList<ZipEntry> entries = ZipDirectory.Read(_handle, Path);
        var byName = entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
        ZipEntry[] pickles = [.. entries.Where(e => e.Name.EndsWith("/data.pkl", StringComparison.Ordinal) && e.Name.IndexOf('/') == e.Name.Length - "/data.pkl".Length)];
        if (pickles.Length != 1)
        {
            throw Error(null, pickles.Length == 0
                ? "is a zip archive but not a torch.save checkpoint: it has no '<archive>/data.pkl' entry"
                : $"has {pickles.Length} '<archive>/data.pkl' entries ({string.Join(", ", pickles.Select(p => $"'{p.Name}'"))}); expected one");
        }
        ZipEntry pickleEntry = pickles[0];
        ArchiveName = pickleEntry.Name[..^"/data.pkl".Length];
        string prefix = ArchiveName + "/";

        if (byName.TryGetValue(prefix + "byteorder", out ZipEntry? byteOrder))
        {
            string order = Encoding.ASCII.GetString(ReadWhole(byteOrder, 16)).Trim();
            if (order != "little")
            {
                throw Error(null, $"was saved with byte order '{order}'; only little-endian checkpoints are supported");
            }
        }

        byte[] pickle = ReadWhole(pickleEntry, MaxPickleBytes);
        uint crc = Crc32.Compute(pickle);
        if (crc != pickleEntry.Crc32)
        {
            throw Error(null, $"has a corrupt '{pickleEntry.Name}': its CRC-32 is 0x{crc:x8}, the zip directory records 0x{pickleEntry.Crc32:x8}");
        }
        PickleDict stateDict = FindStateDict(RestrictedUnpickler.Load(pickle, Path, pickleEntry.Name));

        var regions = new Dictionary<string, ByteRegion>(StringComparer.Ordinal);
        foreach ((object key, object? value) in stateDict.Entries)
        {
            string name = key as string ?? throw Error(null, $"has a state dict key {key} that is not a string");
            if (value is not TorchTensorReference tensor)
            {
                throw Error(name, $"maps '{name}' to a {(value is null ? "None" : "non-tensor value")}; a state dict holds only tensors");
            }
            TorchStorageReference storage = tensor.Storage;
            if (!regions.TryGetValue(storage.Key, out ByteRegion? region))
            {
                region = StorageRegion(byName, prefix + "data/" + storage.Key, storage, name);
                regions.Add(storage.Key, region);
            }
            CheckView(name, tensor);
            _tensors.Add(new StridedTensor(name, storage.DType, tensor.Shape, region, tensor.StorageOffset, tensor.Strides));
        }
        if (_tensors.Count == 0)
        {
            throw Error(null, "holds no tensors");
        }
    }

    private PickleDict FindStateDict(object? root)
    {
        if (root is not PickleDict dict)
        {
            throw Error(null, "does not hold a dict of tensors at the top of its pickle");
        }
        if (dict.Entries.All(e => e.Value is TorchTensorReference))
        {
            return dict;
        }
        PickleDict[] nested = [.. s_containerKeys.Select(k => dict.GetValueOrDefault(k)).OfType<PickleDict>()];
        return nested.Length == 1 && nested[0].Entries.All(e => e.Value is TorchTensorReference)
            ? nested[0]
            : throw Error(null, $"holds a dict that is not a state dict (name → tensor), and no single state dict under {string.Join(", ", s_containerKeys.Select(k => $"'{k}'"))}");
    }

    private ByteRegion StorageRegion(Dictionary<string, ZipEntry> byName, string entryName, TorchStorageReference storage, string tensorName)
    {
        if (!byName.TryGetValue(entryName, out ZipEntry? entry))
        {
            throw Error(tensorName, $"has no zip entry '{entryName}' for the storage of tensor '{tensorName}'; the archive is incomplete");
        }
        int elementSize = TensorDecoding.ElementSize(storage.DType);
        if (storage.ElementCount > long.MaxValue / elementSize || entry.Size != storage.ElementCount * elementSize)
        {
            string need = storage.ElementCount > long.MaxValue / elementSize ? "more bytes than a file can hold" : $"{storage.ElementCount * elementSize}";
            throw Error(tensorName, $"has a storage entry '{entryName}' of {entry.Size} bytes for tensor '{tensorName}'; " +
                $"its {storage.ElementCount} {storage.DType} elements need {need}");
        }
        return Region(entry, tensorName);
    }

    private ByteRegion Region(ZipEntry entry, string? tensorName)
    {
        switch (entry.Method)
        {
            case ZipEntry.Stored:
                return new FileByteRegion(_handle, this, Path, entry.DataOffset, entry.Size);
            case ZipEntry.Deflated:
                var region = new DeflateByteRegion(_handle, this, Path, entry.Name, entry.DataOffset, entry.CompressedSize, entry.Size, entry.Crc32);
                _regions.Add(region);
                return region;
            default:
                throw Error(tensorName, $"compresses zip entry '{entry.Name}' with method {entry.Method}; only stored (0) and deflate (8) entries can be read");
        }
    }

    private byte[] ReadWhole(ZipEntry entry, long limit)
    {
        if (entry.Size > limit)
        {
            throw Error(null, $"has a '{entry.Name}' of {entry.Size} bytes, more than the {limit} bytes this reader accepts");
        }
        ByteRegion region = Region(entry, null);
        region.Validate(entry.Name); // before the buffer is sized from the declared length
        var bytes = new byte[entry.Size];
        region.Read(0, bytes, entry.Name);
        return bytes;
    }

    // Every element the view reaches, offset + Σ (size − 1) · stride, must lie inside the storage.
    private void CheckView(string name, TorchTensorReference tensor)
    {
        long last = tensor.StorageOffset;
        try
        {
            long count = 1;
            for (int i = 0; i < tensor.Shape.Length; i++)
            {
                count = checked(count * tensor.Shape[i]);
                last = checked(last + (Math.Max(tensor.Shape[i] - 1, 0) * tensor.Strides[i]));
            }
            if (count == 0)
            {
                return;
            }
            if (count > tensor.Storage.ElementCount)
            {
                // Only a view with zero or overlapping strides has more elements than its storage; reading it
                // would allocate from a declared size that the file does not back.
                throw Error(name, $"declares tensor '{name}' {CheckpointTensor.FormatShape(tensor.Shape)} with {count} elements over storage '{tensor.Storage.Key}' " +
                    $"of only {tensor.Storage.ElementCount}; expanded (zero-stride) views larger than their storage are not supported");
            }
        }
        catch (OverflowException)
        {
            throw Error(name, $"declares tensor '{name}' with shape {CheckpointTensor.FormatShape(tensor.Shape)} and strides {CheckpointTensor.FormatShape(tensor.Strides)}, whose extent overflows");
        }
        if (last >= tensor.Storage.ElementCount)
        {
            throw Error(name, $"declares tensor '{name}' {CheckpointTensor.FormatShape(tensor.Shape)} (offset {tensor.StorageOffset}, strides {CheckpointTensor.FormatShape(tensor.Strides)}) " +
                $"reaching element {last} of storage '{tensor.Storage.Key}', which holds {tensor.Storage.ElementCount}");
        }
    }

    private CheckpointFormatException Error(string? tensor, string what) => new(Path, tensor, $"Checkpoint '{Path}' {what}.");

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (IDisposable region in _regions)
        {
            region.Dispose();
        }
        _handle.Dispose();
    }
}

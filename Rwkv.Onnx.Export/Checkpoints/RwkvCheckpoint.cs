namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// A checkpoint's tensors in the canonical layout: the names and shapes of BlinkDL's training code
/// (e.g. RWKV-7 <c>blocks.3.att.w1</c> <c>[C, D]</c>, <c>att.x_r</c> <c>[1, 1, C]</c>), whatever file format they came from.
/// Data is still read lazily from the underlying file. Dispose to close the file.
/// </summary>
public sealed class RwkvCheckpoint : IDisposable
{
    private readonly ICheckpointReader _reader;
    private readonly Dictionary<string, CheckpointTensor> _tensors;

    private RwkvCheckpoint(ICheckpointReader reader, IEnumerable<CheckpointTensor> canonical)
    {
        _reader = reader;
        _tensors = new Dictionary<string, CheckpointTensor>(StringComparer.Ordinal);
        foreach (CheckpointTensor t in canonical)
        {
            _tensors.Add(t.Name, t);
        }
    }

    /// <summary>The checkpoint file.</summary>
    public string Path => _reader.Path;

    /// <summary>The file format, e.g. <c>rwkv.cpp</c>.</summary>
    public string Format => _reader.Format;

    /// <summary>Tensors by canonical name.</summary>
    public IReadOnlyDictionary<string, CheckpointTensor> Tensors => _tensors;

    /// <summary>Opens a checkpoint file of any supported format and maps it to the canonical layout.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="CheckpointFormatException">The file is not a supported, valid checkpoint.</exception>
    public static RwkvCheckpoint Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Checkpoint '{path}' does not exist.", path);
        }
        if (!RwkvCppReader.IsRwkvCppFile(path))
        {
            throw new CheckpointFormatException(path, null,
                $"Checkpoint '{path}' is not in a supported format: expected an rwkv.cpp .bin file (magic 'fmgg').");
        }
        RwkvCppReader reader = RwkvCppReader.Open(path);
        try
        {
            return new RwkvCheckpoint(reader, RwkvCppLayout.ToCanonical(reader));
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    /// <summary>The tensor named <paramref name="name"/>.</summary>
    /// <exception cref="CheckpointFormatException">No such tensor.</exception>
    public CheckpointTensor Get(string name) =>
        _tensors.TryGetValue(name, out CheckpointTensor? t)
            ? t
            : throw new CheckpointFormatException(Path, name, $"Checkpoint '{Path}' has no tensor '{name}'.");

    /// <summary>The tensor named <paramref name="name"/>, or null.</summary>
    public CheckpointTensor? Find(string name) => _tensors.GetValueOrDefault(name);

    /// <inheritdoc/>
    public void Dispose() => _reader.Dispose();
}

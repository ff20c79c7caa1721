using System.Buffers.Binary;
using System.Text.Json;

namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// A checkpoint's tensors in the canonical layout: the names and shapes of BlinkDL's training code
/// (e.g. RWKV-7 <c>blocks.3.att.w1</c> <c>[C, D]</c>, <c>att.x_r</c> <c>[1, 1, C]</c>), whatever file format they came from.
/// Data is still read lazily from the underlying files. Dispose to close them.
/// </summary>
/// <remarks>
/// Also an <see cref="ITensorSource"/>, so that a state-tuning checkpoint (e.g. RWKV-PEFT's <c>.pth</c> of
/// <c>blocks.{i}.att.time_state</c> tensors) can be passed to <see cref="RwkvState.FromTimeState"/>.
/// </remarks>
public sealed class RwkvCheckpoint : IDisposable, ITensorSource
{
    /// <summary>The file name of a Hugging Face model config.</summary>
    public const string HuggingFaceConfigFile = "config.json";

    // A Hugging Face directory's weights, in the order transformers prefers them.
    private static readonly string[] s_huggingFaceWeights =
        ["model.safetensors.index.json", "model.safetensors", "pytorch_model.bin.index.json", "pytorch_model.bin"];

    private readonly ICheckpointReader _reader;
    private readonly Dictionary<string, CheckpointTensor> _tensors;

    private RwkvCheckpoint(ICheckpointReader reader, string path, string format, IEnumerable<CheckpointTensor> canonical)
    {
        _reader = reader;
        Path = path;
        Format = format;
        _tensors = new Dictionary<string, CheckpointTensor>(StringComparer.Ordinal);
        foreach (CheckpointTensor t in canonical)
        {
            if (!_tensors.TryAdd(t.Name, t))
            {
                throw new CheckpointFormatException(path, t.Name, $"Checkpoint '{path}' holds tensor '{t.Name}' twice (after mapping names to the canonical layout).");
            }
        }
    }

    /// <summary>The checkpoint as opened: a file, or a Hugging Face model directory.</summary>
    public string Path { get; }

    /// <summary>
    /// The file format: <c>rwkv.cpp</c>, <c>pth</c> (torch.save zip), <c>safetensors</c>, or for a Hugging Face layout
    /// (transformers' RWKV-4, flash-linear-attention's RWKV-7) <c>hf-safetensors</c> / <c>hf-pth</c>.
    /// </summary>
    public string Format { get; }

    /// <summary>The files tensor data is read from (one, or every shard of a sharded checkpoint, in order).</summary>
    public IReadOnlyList<string> Files => _reader.Files;

    /// <summary>
    /// transformers' <c>rescale_every</c> from a Hugging Face <c>config.json</c>, when the file sets it: at inference
    /// transformers halves the hidden state after every that many layers and divides the <c>att.output</c> and
    /// <c>ffn.value</c> weights of layer <c>i</c> by <c>2^(i / rescale_every)</c>, an fp16 overflow guard. Null otherwise
    /// (including when the config omits it, where transformers assumes 6). The tensors are never rescaled here.
    /// </summary>
    public int? RescaleEvery { get; private set; }

    /// <summary>Tensors by canonical name.</summary>
    public IReadOnlyDictionary<string, CheckpointTensor> Tensors => _tensors;

    /// <summary>
    /// Opens a checkpoint of any supported format, recognised by content, and maps it to the canonical layout:
    /// an rwkv.cpp <c>.bin</c> (FP32, FP16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0); a torch.save zip (<c>.pth</c>,
    /// <c>pytorch_model.bin</c>); a <c>.safetensors</c> file or a shard index (<c>*.index.json</c>); or a Hugging Face
    /// model directory (or its <c>config.json</c>) of transformers' RWKV-4 or flash-linear-attention's RWKV-7
    /// (<c>model_type</c> <c>rwkv7</c>), whose names are mapped to BlinkDL's and whose config is checked against the weights. A weights file with transformers' names is checked against a <c>config.json</c> beside it, if any.
    /// </summary>
    /// <param name="path">A checkpoint file or a Hugging Face model directory.</param>
    /// <exception cref="FileNotFoundException">The file does not exist (or a shard it names).</exception>
    /// <exception cref="CheckpointFormatException">The file is not a supported, valid checkpoint.</exception>
    public static RwkvCheckpoint Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path))
        {
            return OpenHuggingFaceDirectory(path, path);
        }
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Checkpoint '{path}' does not exist.", path);
        }
        return Detect(path) switch
        {
            FileKind.RwkvCpp => OpenRwkvCpp(path),
            FileKind.TorchZip => OpenWeights(path, TorchZipReader.Open),
            FileKind.Safetensors => OpenWeights(path, SafetensorsReader.Open),
            FileKind.ShardIndex => OpenWeights(path, ShardReader(path)),
            FileKind.HuggingFaceConfig => OpenHuggingFaceDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!, path),
            _ => throw new InvalidOperationException("Unreachable: Detect returns a known kind or throws."),
        };
    }

    private static RwkvCheckpoint OpenRwkvCpp(string path)
    {
        RwkvCppReader reader = RwkvCppReader.Open(path);
        try
        {
            reader.CheckHeader();
            return new RwkvCheckpoint(reader, path, reader.Format, RwkvCppLayout.ToCanonical(reader));
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

    /// <inheritdoc/>
    string ITensorSource.Description => $"checkpoint '{Path}'";

    /// <inheritdoc/>
    /// <exception cref="CheckpointFormatException">The tensor cannot be read, or a dimension exceeds <see cref="int.MaxValue"/>.</exception>
    bool ITensorSource.TryGetTensor(string name, out IReadOnlyList<int> shape, out float[] data)
    {
        if (Find(name) is not { } tensor)
        {
            (shape, data) = ([], []);
            return false;
        }
        shape = [.. tensor.Shape.Select(d => d <= int.MaxValue
            ? (int)d
            : throw new CheckpointFormatException(Path, name, $"Tensor '{name}' in '{Path}' has shape {tensor.ShapeText}, with a dimension beyond {int.MaxValue}."))];
        data = tensor.ReadFloat32();
        return true;
    }

    private enum FileKind
    {
        RwkvCpp,
        TorchZip,
        Safetensors,
        ShardIndex,
        HuggingFaceConfig,
    }

    private static FileKind Detect(string path)
    {
        Span<byte> head = stackalloc byte[16];
        long length;
        int read;
        using (FileStream stream = File.OpenRead(path))
        {
            length = stream.Length;
            read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        head = head[..read];
        if (length < 8)
        {
            throw new CheckpointFormatException(path, null, $"Checkpoint '{path}' is only {length} bytes long; it is empty or truncated.");
        }
        if (head.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(head) == RwkvCppReader.Magic)
        {
            return FileKind.RwkvCpp;
        }
        if (ZipDirectory.HasZipSignature(head))
        {
            return FileKind.TorchZip;
        }
        if (SafetensorsReader.HasSafetensorsHeader(head))
        {
            return FileKind.Safetensors;
        }
        if (head.TrimStart(" \t\r\n"u8).StartsWith("{"u8))
        {
            return JsonKind(path);
        }
        string what = head switch
        {
            [0x80, 0x02, ..] => "is a legacy torch.save file (PyTorch before 1.6, a bare pickle stream); load it and save it again with a current PyTorch, which writes the zip format",
            [(byte)'G', (byte)'G', (byte)'U', (byte)'F', ..] => "starts with the magic 'GGUF': GGUF files are not supported; use the rwkv.cpp .bin, .pth, safetensors or Hugging Face checkpoint instead",
            [(byte)'P', (byte)'K', ..] => "is a zip archive without a local file header at its start; it is truncated or corrupt",
            _ => $"is not in a supported format (rwkv.cpp .bin, torch.save zip .pth / pytorch_model.bin, .safetensors, a shard index or a Hugging Face directory): " +
                $"it starts with no known magic number (bytes {Convert.ToHexString(head)})",
        };
        throw new CheckpointFormatException(path, null, $"Checkpoint '{path}' {what}.");
    }

    private static FileKind JsonKind(string path)
    {
        if (path.EndsWith(".index.json", StringComparison.OrdinalIgnoreCase))
        {
            return FileKind.ShardIndex;
        }
        if (System.IO.Path.GetFileName(path) == HuggingFaceConfigFile)
        {
            return FileKind.HuggingFaceConfig;
        }
        try
        {
            using FileStream stream = File.OpenRead(path);
            using JsonDocument document = JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 16 });
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                if (document.RootElement.TryGetProperty("weight_map", out _))
                {
                    return FileKind.ShardIndex;
                }
                if (document.RootElement.TryGetProperty("model_type", out _))
                {
                    return FileKind.HuggingFaceConfig;
                }
            }
        }
        catch (JsonException)
        {
        }
        throw new CheckpointFormatException(path, null, $"Checkpoint '{path}' is a JSON file but neither a shard index (with 'weight_map') nor a Hugging Face config (with 'model_type').");
    }

    // The shard format is the format of the first shard the index names.
    private static Func<string, ICheckpointReader> ShardReader(string indexPath)
    {
        string first = ShardIndex.Read(indexPath).Shards[0].Shard;
        if (!File.Exists(first))
        {
            throw new FileNotFoundException($"Shard '{first}' named by the index '{indexPath}' does not exist.", first);
        }
        return Detect(first) switch
        {
            FileKind.Safetensors => SafetensorsReader.Open,
            FileKind.TorchZip => index => ShardedCheckpointReader.Open(index, TorchZipReader.Open),
            _ => throw new CheckpointFormatException(indexPath, null, $"Shard index '{indexPath}' names '{first}', which is neither a safetensors file nor a torch.save zip."),
        };
    }

    // A torch zip or safetensors file (or shard index): BlinkDL names as they are; transformers' names (or any
    // weights of a Hugging Face directory) mapped, and checked against the directory's config.json if there is one.
    private static RwkvCheckpoint OpenWeights(string path, Func<string, ICheckpointReader> open, string? configPath = null, string? openedPath = null)
    {
        ICheckpointReader reader = open(path);
        try
        {
            configPath ??= System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? ".", HuggingFaceConfigFile);
            if (FlaRwkv7Layout.Matches(reader.Tensors))
            {
                var fla = new RwkvCheckpoint(reader, openedPath ?? path, "hf-" + reader.Format, FlaRwkv7Layout.ToCanonical(reader));
                if (File.Exists(configPath))
                {
                    FlaRwkv7Config.Read(configPath).Check(fla.Tensors, path);
                }
                return fla;
            }
            if (openedPath is null && !HuggingFaceLayout.Matches(reader.Tensors))
            {
                return new RwkvCheckpoint(reader, path, reader.Format, reader.Tensors);
            }
            var checkpoint = new RwkvCheckpoint(reader, openedPath ?? path, "hf-" + reader.Format, HuggingFaceLayout.ToCanonical(reader));
            if (File.Exists(configPath))
            {
                HuggingFaceConfig config = HuggingFaceConfig.Read(configPath);
                config.Check(checkpoint.Tensors, path);
                checkpoint.RescaleEvery = config.RescaleEvery;
            }
            return checkpoint;
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    private static RwkvCheckpoint OpenHuggingFaceDirectory(string directory, string openedPath)
    {
        string config = System.IO.Path.Combine(directory, HuggingFaceConfigFile);
        if (!File.Exists(config))
        {
            // An export is the likeliest directory to be given by mistake: say what it is.
            throw new CheckpointFormatException(openedPath, null, File.Exists(System.IO.Path.Combine(directory, RwkvContract.ManifestFile))
                ? $"'{openedPath}' is an exported ONNX model directory (it has {RwkvContract.ManifestFile}), not a checkpoint."
                : $"'{openedPath}' is a directory but not a Hugging Face model: it has no {HuggingFaceConfigFile}.");
        }
        string? weights = s_huggingFaceWeights.Select(f => System.IO.Path.Combine(directory, f)).FirstOrDefault(File.Exists);
        if (weights is null)
        {
            throw new CheckpointFormatException(openedPath, null,
                $"Hugging Face model directory '{directory}' has no weights: expected one of {string.Join(", ", s_huggingFaceWeights)}.");
        }
        Func<string, ICheckpointReader> open = Detect(weights) switch
        {
            FileKind.Safetensors => SafetensorsReader.Open,
            FileKind.TorchZip => TorchZipReader.Open,
            FileKind.ShardIndex => ShardReader(weights),
            _ => throw new CheckpointFormatException(weights, null, $"Checkpoint '{weights}' is neither a safetensors file, a torch.save zip nor a shard index."),
        };
        return OpenWeights(weights, open, config, openedPath);
    }
}

using System.Text.Json;
using System.Text.Unicode;

namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// The fields of a transformers RWKV-4 <c>config.json</c> (<c>model_type</c> <c>rwkv</c>) that the weights
/// must agree with, plus <c>rescale_every</c>.
/// </summary>
internal sealed record HuggingFaceConfig
{
    private const long MaxConfigBytes = 1L << 20;

    /// <summary>The config file.</summary>
    public required string Path { get; init; }

    /// <summary><c>hidden_size</c>: the embedding width C.</summary>
    public required long HiddenSize { get; init; }

    /// <summary><c>num_hidden_layers</c>.</summary>
    public required long Layers { get; init; }

    /// <summary><c>vocab_size</c>.</summary>
    public required long VocabSize { get; init; }

    /// <summary><c>intermediate_size</c> (FFN width), if set; transformers' default is 4 × hidden_size.</summary>
    public long? IntermediateSize { get; init; }

    /// <summary><c>attention_hidden_size</c>, if set; transformers' default is hidden_size.</summary>
    public long? AttentionHiddenSize { get; init; }

    /// <summary><c>rescale_every</c>, if present in the file.</summary>
    public int? RescaleEvery { get; init; }

    /// <summary>Reads <paramref name="path"/>.</summary>
    /// <exception cref="CheckpointFormatException">Not valid JSON, not an RWKV-4 config, or a required field is missing.</exception>
    public static HuggingFaceConfig Read(string path) => ReadObject(path, root =>
    {
        string? modelType = root.TryGetProperty("model_type", out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        if (modelType != "rwkv")
        {
            throw Error(path, $"has model_type {(modelType is null ? "missing" : $"'{modelType}'")}, but the weights beside it have transformers' RWKV-4 names (model_type 'rwkv')");
        }
        return new HuggingFaceConfig
        {
            Path = path,
            HiddenSize = Required(path, root, "hidden_size"),
            Layers = Required(path, root, "num_hidden_layers"),
            VocabSize = Required(path, root, "vocab_size"),
            IntermediateSize = Optional(path, root, "intermediate_size"),
            AttentionHiddenSize = Optional(path, root, "attention_hidden_size"),
            RescaleEvery = Optional(path, root, "rescale_every") is { } r ? (int)Math.Min(r, int.MaxValue) : null,
        };
    });

    /// <summary>Reads the JSON object in <paramref name="path"/> (at most 1 MB of UTF-8) and parses it with <paramref name="parse"/>.</summary>
    /// <exception cref="CheckpointFormatException">Too large, not UTF-8, not a JSON object, or <paramref name="parse"/> refuses it.</exception>
    internal static T ReadObject<T>(string path, Func<JsonElement, T> parse)
    {
        if (new FileInfo(path).Length > MaxConfigBytes)
        {
            throw Error(path, $"is larger than {MaxConfigBytes >> 20} MB; it is not a model config");
        }
        byte[] bytes = File.ReadAllBytes(path);
        if (!Utf8.IsValid(bytes))
        {
            throw Error(path, "is not valid UTF-8 text");
        }
        try
        {
            using JsonDocument document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 16, CommentHandling = JsonCommentHandling.Skip });
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw Error(path, "is not a JSON object");
            }
            return parse(root);
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(path, null, $"Model config '{path}' is not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>Checks the config against canonical tensors.</summary>
    /// <exception cref="CheckpointFormatException">A size disagrees with the weights.</exception>
    public void Check(IReadOnlyDictionary<string, CheckpointTensor> tensors, string weightsPath)
    {
        CheckpointTensor emb = Tensor(tensors, "emb.weight", weightsPath);
        Agree("vocab_size", VocabSize, emb, 0);
        Agree("hidden_size", HiddenSize, emb, 1);
        long layers = 0;
        while (tensors.ContainsKey($"blocks.{layers}.ln1.weight"))
        {
            layers++;
        }
        if (layers != Layers)
        {
            throw new CheckpointFormatException(Path, null,
                $"Model config '{Path}' says num_hidden_layers {Layers}, but the weights '{weightsPath}' hold {layers} blocks.");
        }
        if (IntermediateSize is { } ffn)
        {
            Agree("intermediate_size", ffn, Tensor(tensors, "blocks.0.ffn.key.weight", weightsPath), 0);
        }
        if (AttentionHiddenSize is { } attention)
        {
            Agree("attention_hidden_size", attention, Tensor(tensors, "blocks.0.att.key.weight", weightsPath), 0);
        }
    }

    private void Agree(string field, long value, CheckpointTensor tensor, int axis)
    {
        if (tensor.Shape.Count <= axis || tensor.Shape[axis] != value)
        {
            throw new CheckpointFormatException(Path, tensor.Name,
                $"Model config '{Path}' says {field} {value}, but tensor '{tensor.Name}' has shape {tensor.ShapeText} (expected {value} on axis {axis}).");
        }
    }

    private CheckpointTensor Tensor(IReadOnlyDictionary<string, CheckpointTensor> tensors, string name, string weightsPath) =>
        tensors.TryGetValue(name, out CheckpointTensor? t)
            ? t
            : throw new CheckpointFormatException(weightsPath, name, $"Checkpoint '{weightsPath}' has no tensor '{name}', which config '{Path}' needs to be checked against.");

    internal static long Required(string path, JsonElement root, string field) =>
        Optional(path, root, field) ?? throw Error(path, $"has no '{field}'");

    internal static long? Optional(string path, JsonElement root, string field)
    {
        if (!root.TryGetProperty(field, out JsonElement e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out long v) && v > 0
            ? v
            : throw Error(path, $"has {field} {e.GetRawText()}; expected a positive integer");
    }

    internal static CheckpointFormatException Error(string path, string what) => new(path, null, $"Model config '{path}' {what}.");
}

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
        var check = new ConfigShapeCheck(Path, tensors, weightsPath);
        check.Common(VocabSize, HiddenSize, Layers);
        if (IntermediateSize is { } ffn)
        {
            check.Agree("intermediate_size", ffn, check.Tensor("blocks.0.ffn.key.weight"), 0);
        }
        if (AttentionHiddenSize is { } attention)
        {
            check.Agree("attention_hidden_size", attention, check.Tensor("blocks.0.att.key.weight"), 0);
        }
    }

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

using System.Text.Json;
using System.Text.Unicode;

namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// A Hugging Face shard index (<c>model.safetensors.index.json</c>, <c>pytorch_model.bin.index.json</c>):
/// <c>{"metadata": {...}, "weight_map": {"tensor name": "shard file name", ...}}</c>. Shard names must be
/// plain file names in the index's folder.
/// </summary>
internal sealed class ShardIndex
{
    private const long MaxIndexBytes = 100L << 20;

    private ShardIndex(string path, IReadOnlyList<(string Shard, IReadOnlyList<string> Names)> shards)
    {
        Path = path;
        Shards = shards;
    }

    /// <summary>The index file.</summary>
    public string Path { get; }

    /// <summary>Each shard (full path) with the tensors the index assigns to it, in order of first mention.</summary>
    public IReadOnlyList<(string Shard, IReadOnlyList<string> Names)> Shards { get; }

    /// <summary>Reads and validates an index file.</summary>
    /// <exception cref="CheckpointFormatException">The index is not valid JSON, has no weight_map, or names a shard outside its folder.</exception>
    public static ShardIndex Read(string path)
    {
        var info = new FileInfo(path);
        if (info.Length > MaxIndexBytes)
        {
            throw Error(path, $"is {info.Length} bytes long, more than the {MaxIndexBytes >> 20} MB a shard index may have");
        }
        string folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? ".";
        var shards = new List<(string, List<string>)>();
        var byFile = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        byte[] bytes = File.ReadAllBytes(path);
        if (!Utf8.IsValid(bytes))
        {
            throw Error(path, "is not valid UTF-8 text");
        }
        try
        {
            using JsonDocument document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 16 });
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("weight_map", out JsonElement map) || map.ValueKind != JsonValueKind.Object)
            {
                throw Error(path, "is not a shard index: it has no 'weight_map' object");
            }
            foreach (JsonProperty entry in map.EnumerateObject())
            {
                string file = entry.Value.ValueKind == JsonValueKind.String ? entry.Value.GetString()! : throw Error(path, $"maps tensor '{entry.Name}' to {entry.Value.GetRawText()}, not a file name");
                if (file.Length == 0 || file != System.IO.Path.GetFileName(file) || file is "." or ".." || file.Contains('\\', StringComparison.Ordinal))
                {
                    throw Error(path, $"maps tensor '{entry.Name}' to '{file}'; shards must be plain file names in the index's folder");
                }
                if (!byFile.TryGetValue(file, out List<string>? names))
                {
                    names = [];
                    byFile.Add(file, names);
                    shards.Add((System.IO.Path.Combine(folder, file), names));
                }
                names.Add(entry.Name);
            }
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(path, null, $"Shard index '{path}' is not valid JSON: {e.Message}", e);
        }
        return shards.Count > 0
            ? new ShardIndex(path, [.. shards.Select(s => (s.Item1, (IReadOnlyList<string>)s.Item2))])
            : throw Error(path, "has an empty 'weight_map'");
    }

    private static CheckpointFormatException Error(string path, string what) => new(path, null, $"Shard index '{path}' {what}.");
}

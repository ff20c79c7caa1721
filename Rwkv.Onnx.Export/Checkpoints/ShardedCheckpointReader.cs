namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// A checkpoint split over several files by a shard index (e.g. <c>pytorch_model.bin.index.json</c>):
/// opens every shard with the given reader and exposes the tensors the index assigns to each, in index order.
/// </summary>
internal sealed class ShardedCheckpointReader : ICheckpointReader
{
    private readonly List<ICheckpointReader> _shards = [];
    private readonly List<CheckpointTensor> _tensors = [];

    private ShardedCheckpointReader(string path) => Path = path;

    public string Path { get; }

    public string Format => _shards[0].Format;

    public IReadOnlyList<string> Files => [.. _shards.SelectMany(s => s.Files)];

    public IReadOnlyList<CheckpointTensor> Tensors => _tensors;

    /// <summary>Opens every shard that <paramref name="indexPath"/> names with <paramref name="open"/>.</summary>
    /// <exception cref="FileNotFoundException">A shard does not exist.</exception>
    /// <exception cref="CheckpointFormatException">The index or a shard is invalid, or a shard lacks a tensor the index places in it.</exception>
    public static ShardedCheckpointReader Open(string indexPath, Func<string, ICheckpointReader> open)
    {
        ShardIndex index = ShardIndex.Read(indexPath);
        var reader = new ShardedCheckpointReader(indexPath);
        try
        {
            foreach ((string file, IReadOnlyList<string> names) in index.Shards)
            {
                if (!File.Exists(file))
                {
                    throw new FileNotFoundException($"Shard '{file}' named by the index '{indexPath}' does not exist.", file);
                }
                ICheckpointReader shard = open(file);
                reader._shards.Add(shard);
                var byName = new Dictionary<string, CheckpointTensor>(StringComparer.Ordinal);
                foreach (CheckpointTensor t in shard.Tensors)
                {
                    byName.TryAdd(t.Name, t);
                }
                foreach (string name in names)
                {
                    reader._tensors.Add(byName.TryGetValue(name, out CheckpointTensor? t)
                        ? t
                        : throw new CheckpointFormatException(indexPath, name, $"Index '{indexPath}' places tensor '{name}' in shard '{file}', which does not hold it."));
                }
            }
            return reader;
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (ICheckpointReader shard in _shards)
        {
            shard.Dispose();
        }
    }
}

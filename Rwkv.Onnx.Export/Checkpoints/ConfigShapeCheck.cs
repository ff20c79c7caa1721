namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// Checks a Hugging Face <c>config.json</c>'s sizes against the checkpoint's tensors (canonical, BlinkDL names), for
/// every layout that has such a config: a config that disagrees with its weights would export another model.
/// </summary>
/// <param name="ConfigPath">The config file, named in every message.</param>
/// <param name="Tensors">The checkpoint's tensors by canonical name.</param>
/// <param name="WeightsPath">The weights file, named when a tensor is missing.</param>
internal sealed record ConfigShapeCheck(string ConfigPath, IReadOnlyDictionary<string, CheckpointTensor> Tensors, string WeightsPath)
{
    /// <summary>Checks <c>vocab_size</c> and <c>hidden_size</c> against <c>emb.weight</c> and <c>num_hidden_layers</c> against the blocks.</summary>
    /// <exception cref="CheckpointFormatException">A size disagrees with the weights.</exception>
    public void Common(long vocabSize, long hiddenSize, long layers)
    {
        CheckpointTensor emb = Tensor("emb.weight");
        Agree("vocab_size", vocabSize, emb, 0);
        Agree("hidden_size", hiddenSize, emb, 1);
        long blocks = 0;
        while (Tensors.ContainsKey($"blocks.{blocks}.ln1.weight"))
        {
            blocks++;
        }
        if (blocks != layers)
        {
            throw new CheckpointFormatException(ConfigPath, null,
                $"Model config '{ConfigPath}' says num_hidden_layers {layers}, but the weights '{WeightsPath}' hold {blocks} blocks.");
        }
    }

    /// <summary>Checks that the config's <paramref name="field"/> equals <paramref name="tensor"/>'s size on <paramref name="axis"/>.</summary>
    /// <exception cref="CheckpointFormatException">It does not.</exception>
    public void Agree(string field, long value, CheckpointTensor tensor, int axis)
    {
        if (tensor.Shape.Count <= axis || tensor.Shape[axis] != value)
        {
            throw new CheckpointFormatException(ConfigPath, tensor.Name,
                $"Model config '{ConfigPath}' says {field} {value}, but tensor '{tensor.Name}' has shape {tensor.ShapeText} (expected {value} on axis {axis}).");
        }
    }

    /// <summary>The tensor <paramref name="name"/>, which the check needs.</summary>
    /// <exception cref="CheckpointFormatException">The checkpoint lacks it.</exception>
    public CheckpointTensor Tensor(string name) =>
        Tensors.TryGetValue(name, out CheckpointTensor? t)
            ? t
            : throw new CheckpointFormatException(WeightsPath, name, $"Checkpoint '{WeightsPath}' has no tensor '{name}', which config '{ConfigPath}' needs to be checked against.");
}

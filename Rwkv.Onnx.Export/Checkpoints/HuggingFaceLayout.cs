using System.Text.RegularExpressions;

namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// Maps transformers' RWKV-4 tensor names back to BlinkDL's, undoing <c>convert_rwkv_checkpoint_to_hf.py</c>:
/// the <c>rwkv.</c> prefix (every tensor but <c>head.weight</c>), <c>embeddings.</c> → <c>emb.</c>,
/// <c>blocks.0.pre_ln</c> → <c>blocks.0.ln0</c>, <c>attention</c> → <c>att</c>, <c>feed_forward</c> → <c>ffn</c>,
/// <c>time_mix_key/value/receptance</c> → <c>time_mix_k/v/r</c>. Values and shapes are unchanged.
/// </summary>
internal static partial class HuggingFaceLayout
{
    private const string Prefix = "rwkv.";

    /// <summary>True when the tensors carry transformers' names (an <c>rwkv.</c> prefix).</summary>
    public static bool Matches(IEnumerable<CheckpointTensor> tensors) => tensors.Any(t => t.Name.StartsWith(Prefix, StringComparison.Ordinal));

    /// <summary>The canonical name of a transformers tensor name.</summary>
    public static string CanonicalName(string name)
    {
        if (name.StartsWith(Prefix, StringComparison.Ordinal))
        {
            name = name[Prefix.Length..];
        }
        if (name.StartsWith("embeddings.", StringComparison.Ordinal))
        {
            name = "emb." + name["embeddings.".Length..];
        }
        if (name.StartsWith("blocks.0.pre_ln.", StringComparison.Ordinal))
        {
            name = "blocks.0.ln0." + name["blocks.0.pre_ln.".Length..];
        }
        name = Attention().Replace(name, "$1.att.");
        name = FeedForward().Replace(name, "$1.ffn.");
        foreach ((string hf, string blink) in (ReadOnlySpan<(string, string)>)[(".time_mix_key", ".time_mix_k"), (".time_mix_value", ".time_mix_v"), (".time_mix_receptance", ".time_mix_r")])
        {
            if (name.EndsWith(hf, StringComparison.Ordinal))
            {
                name = name[..^hf.Length] + blink;
            }
        }
        return name;
    }

    /// <summary>The reader's tensors under canonical names (read lazily from the same data).</summary>
    public static IEnumerable<CheckpointTensor> ToCanonical(ICheckpointReader reader) =>
        reader.Tensors.Select(t => CanonicalName(t.Name) is var name && name == t.Name ? t : DerivedTensor.Rename(t, name));

    [GeneratedRegex(@"^(blocks\.\d+)\.attention\.")]
    private static partial Regex Attention();

    [GeneratedRegex(@"^(blocks\.\d+)\.feed_forward\.")]
    private static partial Regex FeedForward();
}

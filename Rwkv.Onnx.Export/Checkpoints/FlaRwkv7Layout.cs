using System.Text.RegularExpressions;

namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// Maps flash-linear-attention's ("fla") RWKV-7 Hugging Face tensors back to BlinkDL's, undoing fla's
/// <c>utils/convert_from_rwkv7.py</c>: <c>model.layers.{i}</c> → <c>blocks.{i}</c>, <c>attn</c> → <c>att</c>,
/// <c>pre_norm</c>/<c>attn_norm</c>/<c>ffn_norm</c> → <c>ln0</c>/<c>ln1</c>/<c>ln2</c>, <c>r/k/v/o_proj</c> →
/// <c>receptance/key/value/output</c>, <c>g_norm</c> → <c>ln_x</c>; the LoRAs <c>{x}_lora.lora.0.weight</c> [R, C] and
/// <c>lora.2.weight</c> [C, R] → <c>{x}1</c> [C, R] and <c>{x}2</c> [R, C] (transposed), <c>lora.2.bias</c> [C] → <c>{x}0</c>
/// [1, 1, C]; the vectors the converter squeezed (<c>k_k</c>, <c>k_a</c>, <c>ffn.x_k</c>) back to [1, 1, C]; and
/// <c>model.embeddings</c>, <c>model.norm</c>, <c>lm_head</c> → <c>emb</c>, <c>ln_out</c>, <c>head</c>. A name it does not
/// know keeps its path under <c>blocks.{i}.att</c>/<c>ffn</c>, so that an unread tensor is named recognisably.
/// </summary>
internal static partial class FlaRwkv7Layout
{
    private static readonly Dictionary<string, string> s_topLevel = new(StringComparer.Ordinal)
    {
        ["model.embeddings.weight"] = "emb.weight",
        ["model.norm.weight"] = "ln_out.weight",
        ["model.norm.bias"] = "ln_out.bias",
        ["lm_head.weight"] = "head.weight",
    };

    private static readonly Dictionary<string, string> s_modules = new(StringComparer.Ordinal)
    {
        ["pre_norm"] = "ln0",
        ["attn_norm"] = "ln1",
        ["ffn_norm"] = "ln2",
        ["attn.r_proj"] = "att.receptance",
        ["attn.k_proj"] = "att.key",
        ["attn.v_proj"] = "att.value",
        ["attn.o_proj"] = "att.output",
        ["attn.g_norm"] = "att.ln_x",
    };

    /// <summary>True when the tensors carry fla's names (<c>model.layers.</c> or <c>model.embeddings.</c>).</summary>
    public static bool Matches(IEnumerable<CheckpointTensor> tensors) =>
        tensors.Any(t => t.Name.StartsWith("model.layers.", StringComparison.Ordinal) || t.Name.StartsWith("model.embeddings.", StringComparison.Ordinal));

    /// <summary>The reader's tensors under canonical names and shapes (read lazily from the same data).</summary>
    /// <exception cref="CheckpointFormatException">The file holds DeepEmbedAttention (<c>qkv.</c>) tensors, whose fla layout is unknown.</exception>
    public static IEnumerable<CheckpointTensor> ToCanonical(ICheckpointReader reader)
    {
        // fla's converter writes no DEA tensors, so how a 7b would be laid out (which matrices transposed, which vectors
        // squeezed) is a guess; guessing would compute another model, so it is refused rather than mapped.
        if (reader.Tensors.FirstOrDefault(t => DeaTensor().IsMatch(t.Name)) is { } dea)
        {
            throw new CheckpointFormatException(reader.Path, dea.Name,
                $"Checkpoint '{reader.Path}' holds '{dea.Name}', a DeepEmbedAttention (RWKV-7b) tensor in the flash-linear-attention layout, " +
                "which this reader does not map: fla's converter writes no such tensors, so their layout is unknown. Export the BlinkDL .pth of the model instead.");
        }
        return reader.Tensors.Select(ToCanonical);
    }

    private static CheckpointTensor ToCanonical(CheckpointTensor t)
    {
        if (s_topLevel.TryGetValue(t.Name, out string? top))
        {
            return DerivedTensor.Rename(t, top);
        }
        Match layer = Layer().Match(t.Name);
        if (!layer.Success)
        {
            return t;
        }
        string block = $"blocks.{layer.Groups[1].Value}.";
        string rest = layer.Groups[2].Value;
        Match lora = Lora().Match(rest);
        if (lora.Success)
        {
            string x = lora.Groups[1].Value;
            return (lora.Groups[2].Value, lora.Groups[3].Value) switch
            {
                ("0", "weight") when t.Shape.Count == 2 => DerivedTensor.Transpose2D(t, $"{block}att.{x}1"),
                ("2", "weight") when t.Shape.Count == 2 => DerivedTensor.Transpose2D(t, $"{block}att.{x}2"),
                ("2", "bias") when t.Shape.Count == 1 => DerivedTensor.Reshape(t, $"{block}att.{x}0", [1, 1, t.ElementCount]),
                _ => DerivedTensor.Rename(t, block + "att." + rest["attn.".Length..]),
            };
        }
        int leaf = rest.LastIndexOf('.');
        string module = leaf < 0 ? rest : rest[..leaf];
        string name = s_modules.TryGetValue(module, out string? canonical)
            ? block + canonical + rest[module.Length..]
            : block + (rest.StartsWith("attn.", StringComparison.Ordinal) ? "att." + rest["attn.".Length..] : rest);
        // The token-shift mixes and k_k/k_a are [1, 1, C] in BlinkDL's files; fla keeps the mixes so and squeezes the others.
        return t.Shape.Count == 1 && SqueezedVector().IsMatch(name)
            ? DerivedTensor.Reshape(t, name, [1, 1, t.ElementCount])
            : DerivedTensor.Rename(t, name);
    }

    [GeneratedRegex(@"^model\.layers\.(\d+)\.(.+)$")]
    private static partial Regex Layer();

    [GeneratedRegex(@"^model\.layers\.\d+\.(attn\.)?qkv\.")]
    private static partial Regex DeaTensor();

    [GeneratedRegex(@"^attn\.([wavg])_lora\.lora\.(\d+)\.(weight|bias)$")]
    private static partial Regex Lora();

    [GeneratedRegex(@"\.(att\.(x_[rwkvag]|k_k|k_a)|ffn\.x_k)$")]
    private static partial Regex SqueezedVector();
}

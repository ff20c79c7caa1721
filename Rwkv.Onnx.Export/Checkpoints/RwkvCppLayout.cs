namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// Undoes the layout changes rwkv.cpp's converter applies, so that its tensors look like the original
/// state dict. RWKV-7: <c>att.x_rwkvag</c> [6,1,C] splits back into <c>x_r x_w x_k x_v x_a x_g</c> [1,1,C];
/// the LoRA matrices are transposed back (<c>w1 a1 v1 g1</c> to [C,D], <c>w2 a2 v2 g2</c> to [D,C]).
/// </summary>
internal static class RwkvCppLayout
{
    private static readonly string[] s_v7MixNames = ["x_r", "x_w", "x_k", "x_v", "x_a", "x_g"];

    public static IEnumerable<CheckpointTensor> ToCanonical(RwkvCppReader reader)
    {
        foreach (CheckpointTensor t in reader.Tensors)
        {
            if (t.Name.EndsWith(".att.x_rwkvag", StringComparison.Ordinal))
            {
                string prefix = t.Name[..^"x_rwkvag".Length];
                if (t.Shape.Count != 3 || t.Shape[0] != 6 || t.Shape[1] != 1)
                {
                    throw new CheckpointFormatException(reader.Path, t.Name,
                        $"Tensor '{t.Name}' in '{reader.Path}' has shape {t.ShapeText}; expected [6, 1, C].");
                }
                long c = t.Shape[2];
                for (int i = 0; i < s_v7MixNames.Length; i++)
                {
                    yield return DerivedTensor.Slice(t, prefix + s_v7MixNames[i], i * c, [1, 1, c]);
                }
            }
            else if (IsV7Lora(t.Name) && t.Shape.Count == 2)
            {
                yield return DerivedTensor.Transpose2D(t, t.Name);
            }
            else
            {
                yield return t;
            }
        }
    }

    // RWKV-7 LoRA names; v6 (time_maa_w1, time_decay_w1...) never ends this way.
    private static bool IsV7Lora(string name) =>
        name.Contains(".att.", StringComparison.Ordinal) &&
        name[(name.LastIndexOf('.') + 1)..] is "w1" or "w2" or "a1" or "a2" or "v1" or "v2" or "g1" or "g2";
}

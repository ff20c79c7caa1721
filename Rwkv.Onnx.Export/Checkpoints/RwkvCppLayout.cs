namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// Undoes the changes rwkv.cpp's converter applies, so that its tensors look like the original BlinkDL
/// state dict (fixtures README, "What the converter does to each tensor"). Value transforms are inverted in
/// double precision. The converter squeezed every <c>.time_</c> tensor; shapes are restored per name.
/// </summary>
internal static class RwkvCppLayout
{
    private static readonly string[] s_v7MixNames = ["x_r", "x_w", "x_k", "x_v", "x_a", "x_g"];

    public static IEnumerable<CheckpointTensor> ToCanonical(RwkvCppReader reader)
    {
        bool v5 = reader.Tensors.Any(t => t.Name == "blocks.0.att.ln_x.weight") && !reader.Tensors.Any(t => t.Name == "blocks.0.att.time_maa_x");
        bool v4 = !v5 && !reader.Tensors.Any(t => t.Name is "blocks.0.att.time_maa_x" or "blocks.0.att.x_rwkvag");
        foreach (CheckpointTensor t in reader.Tensors)
        {
            string leaf = t.Name[(t.Name.LastIndexOf('.') + 1)..];
            bool attention = t.Name.Contains(".att.", StringComparison.Ordinal);
            if (leaf == "x_rwkvag" && attention)
            {
                foreach (CheckpointTensor mix in SplitMixes(reader, t))
                {
                    yield return mix;
                }
            }
            else if (attention && leaf is "w1" or "w2" or "a1" or "a2" or "v1" or "v2" or "g1" or "g2" && t.Shape.Count == 2)
            {
                yield return DerivedTensor.Transpose2D(t, t.Name); // RWKV-7 LoRA: stored transposed
            }
            else if (leaf.StartsWith("time_mix_", StringComparison.Ordinal) || (leaf.StartsWith("time_maa_", StringComparison.Ordinal) && t.Shape.Count == 1))
            {
                yield return DerivedTensor.Reshape(t, t.Name, [1, 1, t.ElementCount]);
            }
            else if (leaf is "time_maa_w1" or "time_decay_w1" or "time_decay_w2")
            {
                yield return DerivedTensor.Transpose2D(Require2D(reader, t), t.Name); // RWKV-6 LoRA: stored transposed
            }
            else if (leaf == "time_maa_w2" && t.Shape.Count == 3)
            {
                yield return SwapLastAxes(t); // [5, C, D] back to [5, D, C]
            }
            else if (leaf == "time_decay" && v4)
            {
                yield return Map(t, t.Name, [t.ElementCount], y => Math.Log(-y)); // stored -exp(x)
            }
            else if (leaf == "time_decay" && v5)
            {
                yield return Map(t, t.Name, DropTrailingOnes(t), y => Math.Log(-Math.Log(y))); // stored exp(-exp(x))
            }
            else if (leaf == "time_decay")
            {
                yield return DerivedTensor.Reshape(t, t.Name, [1, 1, t.ElementCount]); // RWKV-6: reshape only
            }
            else if (leaf == "time_first" && v5)
            {
                yield return Map(t, t.Name, DropTrailingOnes(t), Math.Log); // RWKV-5.0 (rwkv.cpp "5.1"): stored exp(x)
            }
            else if (leaf == "time_faaaa")
            {
                yield return DerivedTensor.Reshape(t, t.Name, DropTrailingOnes(t));
            }
            else
            {
                yield return t;
            }
        }
    }

    private static IEnumerable<CheckpointTensor> SplitMixes(RwkvCppReader reader, CheckpointTensor t)
    {
        if (t.Shape.Count != 3 || t.Shape[0] != 6 || t.Shape[1] != 1)
        {
            throw new CheckpointFormatException(reader.Path, t.Name,
                $"Tensor '{t.Name}' in '{reader.Path}' has shape {t.ShapeText}; expected [6, 1, C].");
        }
        string prefix = t.Name[..^"x_rwkvag".Length];
        long c = t.Shape[2];
        for (int i = 0; i < s_v7MixNames.Length; i++)
        {
            yield return DerivedTensor.Slice(t, prefix + s_v7MixNames[i], i * c, [1, 1, c]);
        }
    }

    private static CheckpointTensor Require2D(RwkvCppReader reader, CheckpointTensor t) =>
        t.Shape.Count == 2
            ? t
            : throw new CheckpointFormatException(reader.Path, t.Name, $"Tensor '{t.Name}' in '{reader.Path}' has shape {t.ShapeText}; expected 2 dimensions.");

    private static long[] DropTrailingOnes(CheckpointTensor t)
    {
        int rank = t.Shape.Count;
        while (rank > 1 && t.Shape[rank - 1] == 1)
        {
            rank--;
        }
        return [.. t.Shape.Take(rank)];
    }

    private static DerivedTensor Map(CheckpointTensor t, string name, long[] shape, Func<double, double> f) =>
        new(name, t.DType, shape, destination =>
        {
            t.ReadFloat32(destination);
            for (int i = 0; i < destination.Length; i++)
            {
                destination[i] = (float)f(destination[i]);
            }
        });

    private static DerivedTensor SwapLastAxes(CheckpointTensor t)
    {
        long n = t.Shape[0], rows = t.Shape[1], cols = t.Shape[2];
        return new DerivedTensor(t.Name, t.DType, [n, cols, rows], destination =>
        {
            float[] data = t.ReadFloat32();
            for (long b = 0; b < n; b++)
            {
                for (long i = 0; i < rows; i++)
                {
                    for (long j = 0; j < cols; j++)
                    {
                        destination[(int)((b * cols * rows) + (j * rows) + i)] = data[(b * rows * cols) + (i * cols) + j];
                    }
                }
            }
        });
    }
}

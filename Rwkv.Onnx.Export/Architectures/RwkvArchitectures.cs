using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>
/// Detects the RWKV version and sizes from tensor names and shapes (never from file names), checks
/// that every tensor the version needs is present with the right shape, and creates its architecture.
/// </summary>
internal static class RwkvArchitectures
{
    private const float LayerNormEpsilon = 1e-5f;
    private const float PublishedGroupNormEpsilon = 64e-5f;

    public static RwkvArchitecture Detect(RwkvCheckpoint checkpoint, ExportOptions options)
    {
        string version = DetectVersion(checkpoint);
        if (version != "7")
        {
            throw new CheckpointFormatException(checkpoint.Path, null,
                $"Checkpoint '{checkpoint.Path}' holds an RWKV-{version} model; this exporter builds RWKV-7 graphs only so far.");
        }
        RwkvArchitectureInfo info = DetectV7(checkpoint, options);
        var architecture = new RwkvV7(info);
        CheckTensors(checkpoint, ExpectedV7(info));
        return architecture;
    }

    private static string DetectVersion(RwkvCheckpoint c)
    {
        if (c.Find("blocks.0.att.k_k") is not null && c.Find("blocks.0.att.r_k") is not null)
        {
            return "7";
        }
        if (c.Find("blocks.0.att.time_maa_x") is not null)
        {
            return "6";
        }
        if (c.Find("blocks.0.att.ln_x.weight") is not null)
        {
            return c.Find("blocks.0.att.gate.weight") is not null ? "5.2" : "5.1";
        }
        if (c.Find("blocks.0.att.time_first") is not null && c.Find("blocks.0.att.time_decay") is not null)
        {
            return "4";
        }
        string found = string.Join(", ", c.Tensors.Keys.Take(8)) + (c.Tensors.Count > 8 ? $", ... ({c.Tensors.Count} tensors)" : "");
        throw new CheckpointFormatException(c.Path, null,
            $"Checkpoint '{c.Path}' is not a known RWKV model: it has none of 'blocks.0.att.k_k' + 'blocks.0.att.r_k' (RWKV-7), " +
            $"'blocks.0.att.time_maa_x' (RWKV-6), 'blocks.0.att.ln_x.weight' (RWKV-5), 'blocks.0.att.time_first' (RWKV-4). Found: {found}.");
    }

    private static RwkvArchitectureInfo DetectV7(RwkvCheckpoint c, ExportOptions options)
    {
        CheckpointTensor emb = Shaped(c, "emb.weight", 2);
        CheckpointTensor rk = Shaped(c, "blocks.0.att.r_k", 2);
        int layers = 0;
        while (c.Find($"blocks.{layers}.ln1.weight") is not null)
        {
            layers++;
        }
        int rank(string name) => (int)Shaped(c, name, 2).Shape[1];
        var info = new RwkvArchitectureInfo
        {
            Version = "7",
            Layers = layers,
            Vocab = (int)emb.Shape[0],
            Embedding = (int)emb.Shape[1],
            Heads = (int)rk.Shape[0],
            HeadSize = (int)rk.Shape[1],
            FfnSize = (int)Shaped(c, "blocks.0.ffn.key.weight", 2).Shape[0],
            LoraRanks = new Dictionary<string, int>
            {
                ["w"] = rank("blocks.0.att.w1"),
                ["a"] = rank("blocks.0.att.a1"),
                ["v"] = layers > 1 ? rank("blocks.1.att.v1") : 0,
                ["g"] = rank("blocks.0.att.g1"),
            },
            Parameters = c.Tensors.Values.Sum(t => t.ElementCount),
            LayerNormEpsilon = LayerNormEpsilon,
            GroupNormEpsilon = options.GroupNormEpsilon ?? PublishedGroupNormEpsilon,
        };
        if (info.Heads * info.HeadSize != info.Embedding)
        {
            throw new CheckpointFormatException(c.Path, "blocks.0.att.r_k",
                $"Tensor 'blocks.0.att.r_k' in '{c.Path}' has shape {rk.ShapeText}: {info.Heads} heads × {info.HeadSize} do not make the width {info.Embedding} of 'emb.weight'.");
        }
        return info;
    }

    private static IEnumerable<(string Name, long[] Shape)> ExpectedV7(RwkvArchitectureInfo i)
    {
        long c = i.Embedding, f = i.FfnSize;
        yield return ("emb.weight", [i.Vocab, c]);
        yield return ("blocks.0.ln0.weight", [c]);
        yield return ("blocks.0.ln0.bias", [c]);
        for (int l = 0; l < i.Layers; l++)
        {
            string p = $"blocks.{l}.";
            foreach (string n in new[] { "ln1", "ln2", "att.ln_x" })
            {
                yield return (p + n + ".weight", [c]);
                yield return (p + n + ".bias", [c]);
            }
            foreach (string n in new[] { "x_r", "x_w", "x_k", "x_v", "x_a", "x_g", "w0", "a0", "k_k", "k_a" })
            {
                yield return (p + "att." + n, [1, 1, c]);
            }
            yield return (p + "att.r_k", [i.Heads, i.HeadSize]);
            foreach (string n in new[] { "receptance", "key", "value", "output" })
            {
                yield return ($"{p}att.{n}.weight", [c, c]);
            }
            foreach ((string lora, int rank) in i.LoraRanks)
            {
                if (lora == "v" && l == 0)
                {
                    continue;
                }
                yield return ($"{p}att.{lora}1", [c, rank]);
                yield return ($"{p}att.{lora}2", [rank, c]);
            }
            if (l > 0)
            {
                yield return (p + "att.v0", [1, 1, c]);
            }
            yield return (p + "ffn.x_k", [1, 1, c]);
            yield return (p + "ffn.key.weight", [f, c]);
            yield return (p + "ffn.value.weight", [c, f]);
        }
        yield return ("ln_out.weight", [c]);
        yield return ("ln_out.bias", [c]);
        yield return ("head.weight", [i.Vocab, c]);
    }

    private static void CheckTensors(RwkvCheckpoint c, IEnumerable<(string Name, long[] Shape)> expected)
    {
        var missing = new List<string>();
        foreach ((string name, long[] shape) in expected)
        {
            CheckpointTensor? t = c.Find(name);
            if (t is null)
            {
                missing.Add(name);
            }
            else if (!t.Shape.SequenceEqual(shape))
            {
                throw new CheckpointFormatException(c.Path, name,
                    $"Tensor '{name}' in '{c.Path}' has shape {t.ShapeText}; expected {CheckpointTensor.FormatShape(shape)}.");
            }
        }
        if (missing.Count > 0)
        {
            throw new CheckpointFormatException(c.Path, missing[0],
                $"Checkpoint '{c.Path}' lacks {missing.Count} tensor(s) the model needs: {string.Join(", ", missing.Take(10).Select(m => $"'{m}'"))}{(missing.Count > 10 ? ", ..." : "")}.");
        }
    }

    private static CheckpointTensor Shaped(RwkvCheckpoint c, string name, int rank)
    {
        CheckpointTensor t = c.Get(name);
        if (t.Shape.Count != rank)
        {
            throw new CheckpointFormatException(c.Path, name, $"Tensor '{name}' in '{c.Path}' has shape {t.ShapeText}; expected {rank} dimensions.");
        }
        return t;
    }
}

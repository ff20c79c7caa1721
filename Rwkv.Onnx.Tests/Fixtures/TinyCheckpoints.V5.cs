using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Tests.Fixtures;

internal static partial class TinyCheckpoints
{
    /// <summary>
    /// Writes a random RWKV-5 model of one variant in rwkv.cpp's layout, as its converter
    /// (<c>python/convert_pytorch_to_ggml.py</c>) would have written it from a BlinkDL state dict: every
    /// <c>.time_</c> tensor squeezed (<c>time_mix_*</c> <c>[1, 1, C]</c> stored <c>[C]</c>), then
    /// <list type="bullet">
    /// <item>5.0 (no gate; rwkv.cpp's "5.1"): <c>time_decay</c> [H] stored exp(−exp(x)) as [H, 1, 1];
    /// <c>time_first</c> [H] stored exp(x) as [H, 1, 1].</item>
    /// <item>5.1 (gate; rwkv.cpp takes the 5.2 path for any gated model): <c>time_decay</c> [H] stored
    /// exp(−exp(x)) as [H, 1]; <c>time_faaaa</c> [H] stored unchanged as [H, 1].</item>
    /// <item>5.2: <c>time_decay</c> [H, N] stored exp(−exp(x)) as [H, N, 1]; <c>time_faaaa</c> [H, N] stored
    /// unchanged as [H, N, 1].</item>
    /// </list>
    /// Everything else is unchanged. Tensor order is that of the v5 fixtures (<c>blocks.0.ln0</c> after block 0's ffn).
    /// </summary>
    /// <param name="path">The <c>.bin</c> file to create (FP32).</param>
    /// <param name="version"><c>5.0</c>, <c>5.1</c> or <c>5.2</c> (ChatRWKV's names).</param>
    /// <param name="layers">Number of blocks.</param>
    /// <param name="embd">Width C; a multiple of <paramref name="headSize"/>.</param>
    /// <param name="headSize">Head size N (heads H = C / N).</param>
    /// <param name="vocab">Vocabulary size V.</param>
    /// <param name="ffn">Channel-mix hidden width F.</param>
    /// <param name="seed">Seed of the random weights: the same seed writes the same file.</param>
    /// <param name="omit">Canonical names to leave out of the file, to make a malformed checkpoint.</param>
    /// <returns>
    /// The canonical tensors (BlinkDL names and shapes, in state-dict order) as generated, omitted ones included. <see cref="RwkvCheckpoint.Open"/>
    /// reads back exactly these names, shapes and values, except <c>time_decay</c> and <c>time_first</c>, whose
    /// stored exp transforms are inverted only to within float32 rounding.
    /// </returns>
    public static IReadOnlyList<CanonicalTensor> WriteRwkv5(string path, string version, int layers, int embd, int headSize, int vocab, int ffn, int seed,
        IReadOnlyCollection<string>? omit = null)
    {
        if (version is not ("5.0" or "5.1" or "5.2"))
        {
            throw new ArgumentOutOfRangeException(nameof(version), version, "RWKV-5 variants are 5.0, 5.1 and 5.2.");
        }
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headSize);
        if (embd <= 0 || embd % headSize != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(embd), embd, $"The width must be a positive multiple of the head size {headSize}.");
        }

        List<CanonicalTensor> canonical = CreateRwkv5(version, layers, embd, headSize, vocab, ffn, new Random(seed));
        RwkvCppWriter.Write(path, vocab, embd, layers, TensorDType.Float32,
            canonical.Where(t => omit?.Contains(t.Name) != true).Select(t => ToRwkvCppV5(t, version)));
        return canonical;
    }

    /// <summary>The model's tensors in BlinkDL's layout and state-dict order (that of the 5v1/5v2 fixtures).</summary>
    private static List<CanonicalTensor> CreateRwkv5(string version, int layers, int c, int headSize, int vocab, int ffn, Random random)
    {
        bool gated = version != "5.0";
        long[] perHead = version == "5.2" ? [c / headSize, headSize] : [c / headSize];
        var tensors = new List<CanonicalTensor>();
        float matrixScale = 1 / MathF.Sqrt(c);
        void Add(string name, long[] shape, Func<float> value)
        {
            long count = shape.Aggregate(1L, (p, d) => p * d);
            var data = new float[count];
            for (long i = 0; i < count; i++)
            {
                data[i] = value();
            }
            tensors.Add(new CanonicalTensor(name, shape, data));
        }
        float Normal(float std) => std * Gaussian(random);
        float Uniform(float low, float high) => low + (high - low) * (float)random.NextDouble();
        void LayerNorm(string prefix)
        {
            Add(prefix + ".weight", [c], () => 1 + Normal(0.1f));
            Add(prefix + ".bias", [c], () => Normal(0.1f));
        }

        Add("emb.weight", [vocab, c], () => Normal(1));
        for (int i = 0; i < layers; i++)
        {
            string b = $"blocks.{i}.";
            LayerNorm(b + "ln1");
            LayerNorm(b + "ln2");
            string att = b + "att.";
            // Decays exp(-exp(x)) from 0.07 (x = 1) to 0.98 (x = -4): short and long memories in one model.
            Add(att + "time_decay", perHead, () => Uniform(-4, 1));
            if (gated)
            {
                Add(att + "time_faaaa", perHead, () => Normal(0.5f));
            }
            else
            {
                Add(att + "time_first", perHead, () => Uniform(-1, 1));
            }
            foreach (string mix in gated ? (string[])["k", "v", "r", "g"] : ["k", "v", "r"])
            {
                Add(att + "time_mix_" + mix, [1, 1, c], () => Uniform(0, 1));
            }
            LayerNorm(att + "ln_x");
            foreach (string linear in gated ? (string[])["key", "value", "receptance", "output", "gate"] : ["key", "value", "receptance", "output"])
            {
                Add($"{att}{linear}.weight", [c, c], () => Normal(matrixScale));
            }
            Add(b + "ffn.time_mix_k", [1, 1, c], () => Uniform(0, 1));
            Add(b + "ffn.time_mix_r", [1, 1, c], () => Uniform(0, 1));
            Add(b + "ffn.key.weight", [ffn, c], () => Normal(matrixScale));
            Add(b + "ffn.value.weight", [c, ffn], () => Normal(1 / MathF.Sqrt(ffn)));
            Add(b + "ffn.receptance.weight", [c, c], () => Normal(matrixScale));
            if (i == 0)
            {
                LayerNorm(b + "ln0");
            }
        }
        LayerNorm("ln_out");
        Add("head.weight", [vocab, c], () => Normal(matrixScale));
        return tensors;
    }

    /// <summary>The rwkv.cpp record for a canonical RWKV-5 tensor, per the converter (float32 arithmetic, as torch does it).</summary>
    private static RwkvCppWriter.Tensor ToRwkvCppV5(CanonicalTensor tensor, string version)
    {
        int[] shape = tensor.Shape.Select(d => (int)d).ToArray();
        string suffix = tensor.Name[(tensor.Name.LastIndexOf('.') + 1)..];
        int[] unsqueezed = [.. shape, 1];     // 5.1/5.2 path: squeeze, then unsqueeze(-1)
        int[] column = [shape[0], 1, 1];      // 5.0 path: reshape(-1, 1, 1)
        return suffix switch
        {
            _ when suffix.StartsWith("time_mix_", StringComparison.Ordinal) => new(tensor.Name, [shape[^1]], tensor.Data),
            "time_decay" => new(tensor.Name, version == "5.0" ? column : unsqueezed, Array.ConvertAll(tensor.Data, x => MathF.Exp(-MathF.Exp(x)))),
            "time_first" => new(tensor.Name, column, Array.ConvertAll(tensor.Data, MathF.Exp)),
            "time_faaaa" => new(tensor.Name, unsqueezed, tensor.Data),
            _ => new(tensor.Name, shape, tensor.Data),
        };
    }
}

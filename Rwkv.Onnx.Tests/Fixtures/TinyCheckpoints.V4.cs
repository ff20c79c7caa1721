using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Tests.Fixtures;

internal static partial class TinyCheckpoints
{
    /// <summary>
    /// Writes a random RWKV-4 model in rwkv.cpp's layout, as its converter would have written it from a
    /// BlinkDL state dict: <c>att.time_decay</c> stored as −exp(x) (float32), every <c>time_mix_*</c>
    /// squeezed from <c>[1, 1, C]</c> to <c>[C]</c>, everything else unchanged, FP32 throughout. Unlike the
    /// <c>4v0-660K</c> fixture, whose channel-mix weights are ~1e-7, every weight is of a real size, so
    /// the channel mix shapes the logits.
    /// </summary>
    /// <param name="path">The <c>.bin</c> file to create.</param>
    /// <param name="layers">Number of blocks.</param>
    /// <param name="embd">Width C.</param>
    /// <param name="vocab">Vocabulary size V.</param>
    /// <param name="ffn">Channel-mix hidden width F.</param>
    /// <param name="seed">Seed of the random weights: the same seed writes the same file.</param>
    /// <param name="keyScale">
    /// Multiplies every <c>att.key.weight</c>: at 1 the keys are about unit size; at 40 they reach ±100,
    /// where exp(k) overflows float32 and only the running-max form of WKV stays finite.
    /// </param>
    /// <returns>
    /// The canonical tensors (BlinkDL names and shapes, in state-dict order). A reader gets
    /// <c>att.time_decay</c> back as log(−y) of the stored y, i.e. within float rounding of these values;
    /// every other tensor exactly.
    /// </returns>
    public static IReadOnlyList<CanonicalTensor> WriteRwkv4(
        string path, int layers, int embd, int vocab, int ffn, int seed, float keyScale = 1f)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(embd);
        List<CanonicalTensor> canonical = CreateRwkv4(layers, embd, vocab, ffn, keyScale, new Random(seed));
        RwkvCppWriter.Write(path, vocab, embd, layers, TensorDType.Float32, canonical.Select(ToRwkvCppV4));
        return canonical;
    }

    /// <summary>The model's tensors in BlinkDL's layout and state-dict order (that of the 4v0 fixture).</summary>
    private static List<CanonicalTensor> CreateRwkv4(int layers, int c, int vocab, int ffn, float keyScale, Random random)
    {
        var tensors = new List<CanonicalTensor>();
        float matrixScale = 1 / MathF.Sqrt(c);
        void Add(string name, long[] shape, Func<float> value)
        {
            var data = new float[shape.Aggregate(1L, (p, d) => p * d)];
            for (int i = 0; i < data.Length; i++)
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
            // Decay factors exp(−exp(x)) from 0.95 (x = −3) to 0.07 (x = 1); bonus u around 0.
            Add(b + "att.time_decay", [c], () => Uniform(-3, 1));
            Add(b + "att.time_first", [c], () => Uniform(-1, 1));
            foreach (string mix in (string[])["time_mix_k", "time_mix_v", "time_mix_r"])
            {
                Add(b + "att." + mix, [1, 1, c], () => Uniform(0, 1));
            }
            Add(b + "att.key.weight", [c, c], () => keyScale * Normal(matrixScale));
            foreach (string linear in (string[])["value", "receptance", "output"])
            {
                Add($"{b}att.{linear}.weight", [c, c], () => Normal(matrixScale));
            }
            Add(b + "ffn.time_mix_k", [1, 1, c], () => Uniform(0, 1));
            Add(b + "ffn.time_mix_r", [1, 1, c], () => Uniform(0, 1));
            Add(b + "ffn.key.weight", [ffn, c], () => Normal(matrixScale));
            Add(b + "ffn.value.weight", [c, ffn], () => Normal(1 / MathF.Sqrt(ffn)));
            Add(b + "ffn.receptance.weight", [c, c], () => Normal(matrixScale));
            if (i == 0)
            {
                LayerNorm(b + "ln0"); // after block 0's ffn, as in the 4v0 fixture
            }
        }
        LayerNorm("ln_out");
        Add("head.weight", [vocab, c], () => Normal(matrixScale));
        return tensors;
    }

    /// <summary>The rwkv.cpp record for a canonical RWKV-4 tensor: decay stored −exp(x), time mixes squeezed.</summary>
    private static RwkvCppWriter.Tensor ToRwkvCppV4(CanonicalTensor tensor)
    {
        string suffix = tensor.Name[(tensor.Name.LastIndexOf('.') + 1)..];
        if (suffix == "time_decay")
        {
            return new RwkvCppWriter.Tensor(tensor.Name, [tensor.Data.Length], Array.ConvertAll(tensor.Data, x => -MathF.Exp(x)));
        }
        if (suffix.StartsWith("time_mix_", StringComparison.Ordinal))
        {
            return new RwkvCppWriter.Tensor(tensor.Name, [tensor.Data.Length], tensor.Data);
        }
        return new RwkvCppWriter.Tensor(tensor.Name, [.. tensor.Shape.Select(d => (int)d)], tensor.Data);
    }
}

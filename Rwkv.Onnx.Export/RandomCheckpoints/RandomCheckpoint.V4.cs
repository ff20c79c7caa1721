using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Export.RandomCheckpoints;

internal static partial class RandomCheckpoint
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
    /// <param name="depthGrowth">
    /// Multiplies layer i's <c>att.output.weight</c> and <c>ffn.value.weight</c> by depthGrowth^i: above 1, the residual
    /// stream grows with depth as in real RWKV-4 models, whose deep layers overflow float16 without rescaling.
    /// </param>
    /// <param name="written">
    /// When not null, receives the canonical tensors (BlinkDL names and shapes, in state-dict order). A reader gets
    /// <c>att.time_decay</c> back as log(−y) of the stored y, i.e. within float rounding of these values;
    /// every other tensor exactly.
    /// </param>
    public static void WriteRwkv4(
        string path, int layers, int embd, int vocab, int ffn, int seed, float keyScale = 1f, float depthGrowth = 1f,
        ICollection<CanonicalTensor>? written = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(embd);
        IEnumerable<CanonicalTensor> canonical = CreateRwkv4(layers, embd, vocab, ffn, keyScale, depthGrowth, new Random(seed));
        RwkvCppWriter.Write(path, vocab, embd, layers, TensorDType.Float32, canonical.Select(t =>
        {
            written?.Add(t);
            return ToRwkvCppV4(t);
        }));
    }

    /// <summary>The model's tensors in BlinkDL's layout and state-dict order (that of the 4v0 fixture), drawn lazily.</summary>
    private static IEnumerable<CanonicalTensor> CreateRwkv4(int layers, int c, int vocab, int ffn, float keyScale, float depthGrowth, Random random)
    {
        float matrixScale = 1 / MathF.Sqrt(c);
        yield return Fill("emb.weight", [vocab, c], () => Normal(random, 1));
        for (int i = 0; i < layers; i++)
        {
            string b = $"blocks.{i}.";
            foreach (CanonicalTensor t in LayerNorm(random, b + "ln1", c).Concat(LayerNorm(random, b + "ln2", c)))
            {
                yield return t;
            }
            // Decay factors exp(−exp(x)) from 0.95 (x = −3) to 0.07 (x = 1); bonus u around 0.
            yield return Fill(b + "att.time_decay", [c], () => Uniform(random, -3, 1));
            yield return Fill(b + "att.time_first", [c], () => Uniform(random, -1, 1));
            foreach (string mix in (string[])["time_mix_k", "time_mix_v", "time_mix_r"])
            {
                yield return Fill(b + "att." + mix, [1, 1, c], () => Uniform(random, 0, 1));
            }
            yield return Fill(b + "att.key.weight", [c, c], () => keyScale * Normal(random, matrixScale));
            float growth = MathF.Pow(depthGrowth, i);
            foreach (string linear in (string[])["value", "receptance", "output"])
            {
                float scale = linear == "output" ? growth * matrixScale : matrixScale;
                yield return Fill($"{b}att.{linear}.weight", [c, c], () => Normal(random, scale));
            }
            yield return Fill(b + "ffn.time_mix_k", [1, 1, c], () => Uniform(random, 0, 1));
            yield return Fill(b + "ffn.time_mix_r", [1, 1, c], () => Uniform(random, 0, 1));
            yield return Fill(b + "ffn.key.weight", [ffn, c], () => Normal(random, matrixScale));
            yield return Fill(b + "ffn.value.weight", [c, ffn], () => Normal(random, growth / MathF.Sqrt(ffn)));
            yield return Fill(b + "ffn.receptance.weight", [c, c], () => Normal(random, matrixScale));
            if (i == 0)
            {
                foreach (CanonicalTensor t in LayerNorm(random, b + "ln0", c))
                {
                    yield return t; // after block 0's ffn, as in the 4v0 fixture
                }
            }
        }
        foreach (CanonicalTensor t in LayerNorm(random, "ln_out", c))
        {
            yield return t;
        }
        yield return Fill("head.weight", [vocab, c], () => Normal(random, matrixScale));
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

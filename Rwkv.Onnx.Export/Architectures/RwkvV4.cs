using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.Graph;
using static Rwkv.Onnx.Export.Graph.Ops;

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>
/// RWKV-4 (Pile, Raven; the model of Hugging Face transformers' <c>RwkvForCausalLM</c>): one WKV head as
/// wide as the model, with a per-channel decay w and a bonus u for the current token. The WKV state is
/// kept as (aa, bb, pp): numerator and denominator scaled by exp(−pp), pp being the running max exponent,
/// so nothing overflows in float32 however large the keys.
/// </summary>
internal sealed partial class RwkvV4(RwkvArchitectureInfo info) : RwkvArchitecture(info)
{
    // Initial pp: exp(pp − anything) is 0, so the first token sees an empty history.
    private const float NoHistory = -1e30f;
    private static readonly string[] s_attMixes = ["time_mix_k", "time_mix_v", "time_mix_r"];
    private static readonly string[] s_attProjections = ["key", "value", "receptance", "output"];
    private static readonly string[] s_ffnMixes = ["time_mix_k", "time_mix_r"];
    private static readonly string[] s_wkvSlots = ["aa", "bb", "pp"];

    /// <summary>
    /// An RWKV-4 architecture if the checkpoint has <c>att.time_first</c> and <c>att.time_decay</c> but none of
    /// the later versions' markers (<c>att.ln_x</c> of 5, <c>att.time_maa_x</c> of 6, <c>att.k_k</c> of 7), else null.
    /// </summary>
    public static RwkvV4? TryCreate(RwkvCheckpoint c, ExportOptions options)
    {
        if (c.Find("blocks.0.att.time_first") is null || c.Find("blocks.0.att.time_decay") is null ||
            c.Find("blocks.0.att.ln_x.weight") is not null || c.Find("blocks.0.att.time_maa_x") is not null || c.Find("blocks.0.att.k_k") is not null)
        {
            return null;
        }
        CheckpointTensor emb = Shaped(c, "emb.weight", 2);
        int width = (int)emb.Shape[1];
        var info = new RwkvArchitectureInfo
        {
            Version = "4",
            Layers = CountLayers(c),
            Vocab = (int)emb.Shape[0],
            Embedding = width,
            Heads = 1,
            HeadSize = width,
            FfnSize = (int)Shaped(c, "blocks.0.ffn.key.weight", 2).Shape[0],
            Parameters = c.Tensors.Values.Sum(t => t.ElementCount),
            LayerNormEpsilon = LayerNormEpsilon,
            GroupNormEpsilon = 0f, // RWKV-4 has no ln_x
        };
        return new RwkvV4(info);
    }

    protected override IEnumerable<(string Name, long[] Shape)> LayerTensors(int l, string p)
    {
        long c = Info.Embedding, f = Info.FfnSize;
        yield return (p + "att.time_decay", [c]);
        yield return (p + "att.time_first", [c]);
        foreach (string n in s_attMixes)
        {
            yield return (p + "att." + n, [1, 1, c]);
        }
        foreach (string n in s_attProjections)
        {
            yield return ($"{p}att.{n}.weight", [c, c]);
        }
        foreach (string n in s_ffnMixes)
        {
            yield return (p + "ffn." + n, [1, 1, c]);
        }
        yield return (p + "ffn.key.weight", [f, c]);
        yield return (p + "ffn.value.weight", [c, f]);
        yield return (p + "ffn.receptance.weight", [c, c]);
    }

    public override IReadOnlyList<StateSlot> StateSlots { get; } =
    [
        StateSlot.Channels("att_shift", info.Embedding),
        StateSlot.Channels("aa", info.Embedding),
        StateSlot.Channels("bb", info.Embedding),
        StateSlot.Channels("pp", info.Embedding, NoHistory),
        StateSlot.Channels("ffn_shift", info.Embedding),
    ];

    // r, k and v from three mixes.
    public override int PrefillTokenWidths => 24;

    public override bool ChunkKeepsStateMatrices => false; // its state is vectors

    public override void PrepareWeights(RwkvCheckpoint checkpoint, WeightSink sink)
    {
        PrepareEmbedding(checkpoint, sink);
        for (int i = 0; i < Info.Layers; i++)
        {
            string p = $"blocks.{i}.";
            foreach (string norm in new[] { "ln1", "ln2" })
            {
                sink.Vector(checkpoint.Get(p + norm + ".weight"));
                sink.Vector(checkpoint.Get(p + norm + ".bias"));
            }
            // w = −exp(time_decay), computed in double so w is the correctly rounded float.
            float[] decay = checkpoint.Get(p + "att.time_decay").ReadFloat32();
            sink.Add(p + "att.time_decay", Array.ConvertAll(decay, d => (float)-Math.Exp(d)), decay.Length);
            sink.Vector(checkpoint.Get(p + "att.time_first"));
            foreach (string mix in s_attMixes)
            {
                sink.Vector(checkpoint.Get(p + "att." + mix));
            }
            foreach (string proj in s_attProjections)
            {
                sink.Transposed(checkpoint.Get($"{p}att.{proj}.weight"));
            }
            foreach (string mix in s_ffnMixes)
            {
                sink.Vector(checkpoint.Get(p + "ffn." + mix));
            }
            foreach (string proj in new[] { "key", "value", "receptance" })
            {
                sink.Transposed(checkpoint.Get($"{p}ffn.{proj}.weight"));
            }
        }
        PrepareHead(checkpoint, sink);
    }

    protected override Value TimeMix(RwkvBlock b, Value x)
    {
        Value prev = b.TokenShift("att_shift", x);
        Value[] mixes = Mixes(b, x, prev, [.. s_attMixes.Select(m => "att." + m)]);
        Value k = b.Linear("att.key", mixes[0]);
        Value v = b.Linear("att.value", mixes[1]);
        Value r = Sigmoid(b.Linear("att.receptance", mixes[2]));
        Value u = b.W("att.time_first"), w = b.W("att.time_decay"); // w is −exp(time_decay) (PrepareWeights)
        Value wkv = b.Chunked
            ? b.ChunkedRecurrence("wkv", s_wkvSlots, [(k, NoKey), (v, 0f), (Expand(w, Shape(k)), 0f)], splitHeads: false, x => WkvChunk(b, x, u))
            : b.Recurrence("wkv", s_wkvSlots, [k, v], (s, t) => Wkv(s, t, u, w), splitHeads: false);
        return b.Linear("att.output", r * wkv);
    }

    // wkv = (Σᵢ e^(w·(t−1−i) + kᵢ) vᵢ + e^(u+k) v) / (same with vᵢ, v → 1), with the history held as
    // aa = num·e^(−pp), bb = den·e^(−pp): every exponent is shifted by the running max before exp.
    private static (Value[] States, Value Output) Wkv(Value[] s, Value[] t, Value u, Value w)
    {
        (Value aa, Value bb, Value pp, Value k, Value v) = (s[0], s[1], s[2], t[0], t[1]);
        Value ww = k + u, p = Max(pp, ww);
        Value e1 = Exp(pp - p), e2 = Exp(ww - p);
        Value wkv = (e1 * aa + e2 * v) / (e1 * bb + e2);
        Value ww2 = pp + w, p2 = Max(ww2, k); // decay the history one step, then add this token without the bonus
        Value d1 = Exp(ww2 - p2), d2 = Exp(k - p2);
        return ([d1 * aa + d2 * v, d1 * bb + d2, p2], wkv);
    }

    // r = σ(Wr·xr);  k = relu(Wk·xk)²;  out = r ⊙ (Wv·k)
    protected override Value ChannelMix(RwkvBlock b, Value x)
    {
        Value prev = b.TokenShift("ffn_shift", x);
        Value r = Sigmoid(b.Linear("ffn.receptance", Mix(x, prev, b.W("ffn.time_mix_r"))));
        Value k = Relu(b.Linear("ffn.key", Mix(x, prev, b.W("ffn.time_mix_k"))));
        return r * b.Linear("ffn.value", k * k);
    }

    // x·μ + prev·(1 − μ): RWKV-4's token-shift interpolation, written as the original code writes it.
    private static Value Mix(Value x, Value prev, Value mu) => x * mu + prev * (1f - mu);

    // Mix for several μ: in step graphs at once, side by side (one Mul, Mul, Add over [.., n·C]), then split; in prefill
    // graphs one by one (see RwkvBlock.Mixes).
    private static Value[] Mixes(RwkvBlock b, Value x, Value prev, string[] names)
    {
        using IDisposable _ = b.Graph.Scope("mix");
        return b.Kind == GraphKind.Prefill
            ? [.. names.Select(name => Mix(x, prev, b.W(name)))]
            : Split(Mix(RwkvBlock.SideBySide(x, names.Length), RwkvBlock.SideBySide(prev, names.Length), b.WSideBySide(names)), -1, names.Length);
    }
}

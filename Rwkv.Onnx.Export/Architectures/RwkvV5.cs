using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.Graph;
using static Rwkv.Onnx.Export.Graph.Ops;

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>
/// RWKV-5 "Eagle": multi-head linear attention with one N×N state matrix per head, a constant decay w and
/// a bonus u for the current token, then a per-head group norm (ln_x). Three published variants, named as
/// in ChatRWKV (rwkv.cpp calls ChatRWKV's 5.0 "5.1"):
/// <list type="bullet">
/// <item>5.0: one decay and one bonus per head (<c>time_decay</c> [H], <c>time_first</c> [H]), no gate.</item>
/// <item>5.1: as 5.0, plus the output gate g = silu(Wg xg) (<c>att.gate.weight</c>, <c>time_mix_g</c>).</item>
/// <item>5.2: gated, with a decay and a bonus per channel (<c>time_decay</c> [H, N], <c>time_faaaa</c> [H, N]).</item>
/// </list>
/// Detection follows ChatRWKV's <c>rwkv/model.py</c>: <c>ln_x</c> makes it 5, <c>gate.weight</c> 5.1, a
/// <c>time_decay</c> whose second axis is longer than 1 makes it 5.2. The bonus is <c>time_faaaa</c> as
/// stored when present, else exp(<c>time_first</c>) (ChatRWKV's REAL_TIME_FIRST rule).
/// </summary>
/// <remarks>
/// State per layer: <c>att_shift</c> [C], <c>wkv</c> [H, N, N], <c>ffn_shift</c> [C]. The wkv matrix of head h
/// is S[h][i][j] with i the value index and j the key index, as for RWKV-6 and 7, so every version's state reads
/// the same way (ChatRWKV and rwkv.cpp keep RWKV-5's as the transpose, [head][key][value]).
/// </remarks>
internal sealed class RwkvV5 : RwkvArchitecture
{
    private const string DecayName = "att.time_decay";
    private static readonly string[] s_projections = ["receptance", "key", "value", "output"];
    private static readonly string[] s_ffnProjections = ["key", "value", "receptance"];

    private readonly bool _gated;        // 5.1, 5.2
    private readonly bool _perChannel;   // 5.2: time_decay and the bonus are [H, N]
    private readonly string _bonusName;  // "att.time_faaaa" (u as stored) or "att.time_first" (u = exp)

    private RwkvV5(RwkvArchitectureInfo info, bool gated, bool perChannel, string bonusName) : base(info)
    {
        _gated = gated;
        _perChannel = perChannel;
        _bonusName = bonusName;
        StateSlots =
        [
            StateSlot.Channels("att_shift", info.Embedding),
            StateSlot.ValueKeyMatrices("wkv", info.Heads, info.HeadSize) with { TimeState = StateSlot.PeftTimeState },
            StateSlot.Channels("ffn_shift", info.Embedding),
        ];
    }

    /// <summary>
    /// An RWKV-5 architecture if the checkpoint has <c>att.ln_x</c> but neither RWKV-6's <c>att.time_maa_x</c>
    /// nor RWKV-7's <c>att.k_k</c>, else null.
    /// </summary>
    /// <exception cref="CheckpointFormatException">An RWKV-5 checkpoint whose decay, width or gate do not fit together.</exception>
    public static RwkvV5? TryCreate(RwkvCheckpoint c, ExportOptions options)
    {
        if (c.Find("blocks.0.att.ln_x.weight") is null || c.Find("blocks.0.att.time_maa_x") is not null || c.Find("blocks.0.att.k_k") is not null)
        {
            return null;
        }
        CheckpointTensor emb = Shaped(c, "emb.weight", 2);
        CheckpointTensor decay = c.Get("blocks.0." + DecayName);
        if (decay.Shape.Count is not (1 or 2))
        {
            throw new CheckpointFormatException(c.Path, decay.Name,
                $"Tensor '{decay.Name}' in '{c.Path}' has shape {decay.ShapeText}; expected [heads] (RWKV-5.0/5.1) or [heads, head_size] (RWKV-5.2).");
        }
        bool gated = c.Find("blocks.0.att.gate.weight") is not null;
        bool perChannel = decay.Shape.Count == 2 && decay.Shape[1] > 1;
        if (perChannel && !gated)
        {
            throw new CheckpointFormatException(c.Path, "blocks.0.att.gate.weight",
                $"Checkpoint '{c.Path}' has a decay per channel ('{decay.Name}' {decay.ShapeText}, RWKV-5.2) but no 'blocks.0.att.gate.weight', which every RWKV-5.2 model has.");
        }
        int embedding = (int)emb.Shape[1];
        int heads = (int)decay.Shape[0];
        if (heads <= 0 || embedding % heads != 0 || (perChannel && decay.Shape[1] * heads != embedding))
        {
            throw new CheckpointFormatException(c.Path, decay.Name,
                $"Tensor '{decay.Name}' in '{c.Path}' has shape {decay.ShapeText}: {heads} heads do not split the width {embedding} of 'emb.weight'" +
                (perChannel ? $" into heads of {decay.Shape[1]}." : "."));
        }
        var info = new RwkvArchitectureInfo
        {
            Version = perChannel ? "5.2" : gated ? "5.1" : "5.0",
            Layers = CountLayers(c),
            Vocab = (int)emb.Shape[0],
            Embedding = embedding,
            Heads = heads,
            HeadSize = embedding / heads,
            FfnSize = (int)Shaped(c, "blocks.0.ffn.key.weight", 2).Shape[0],
            Parameters = c.Tensors.Values.Sum(t => t.ElementCount),
            LayerNormEpsilon = LayerNormEpsilon,
            GroupNormEpsilon = options.GroupNormEpsilon ?? PublishedGroupNormEpsilon,
        };
        string bonus = c.Find("blocks.0.att.time_faaaa") is not null ? "att.time_faaaa" : "att.time_first";
        return new RwkvV5(info, gated, perChannel, bonus);
    }

    public override IReadOnlyList<StateSlot> StateSlots { get; }

    // As RWKV-6 (measured there): fewer tensors than RWKV-7, but more of them alive at once.
    public override int PrefillTokenWidths => 84;

    private IEnumerable<string> Mixes => _gated ? ["time_mix_k", "time_mix_v", "time_mix_r", "time_mix_g"] : ["time_mix_k", "time_mix_v", "time_mix_r"];

    private IEnumerable<string> Projections => _gated ? [.. s_projections, "gate"] : s_projections;

    protected override IEnumerable<(string Name, long[] Shape)> LayerTensors(int l, string p)
    {
        long c = Info.Embedding, f = Info.FfnSize;
        long[] perHead = _perChannel ? [Info.Heads, Info.HeadSize] : [Info.Heads];
        yield return (p + "att.ln_x.weight", [c]);
        yield return (p + "att.ln_x.bias", [c]);
        foreach (string mix in Mixes)
        {
            yield return (p + "att." + mix, [1, 1, c]);
        }
        yield return (p + DecayName, perHead);
        yield return (p + _bonusName, perHead);
        foreach (string n in Projections)
        {
            yield return ($"{p}att.{n}.weight", [c, c]);
        }
        yield return (p + "ffn.time_mix_k", [1, 1, c]);
        yield return (p + "ffn.time_mix_r", [1, 1, c]);
        yield return (p + "ffn.key.weight", [f, c]);
        yield return (p + "ffn.value.weight", [c, f]);
        yield return (p + "ffn.receptance.weight", [c, c]);
    }

    public override void PrepareWeights(RwkvCheckpoint checkpoint, WeightSink sink)
    {
        PrepareEmbedding(checkpoint, sink);
        Func<double, double> bonus = _bonusName == "att.time_first" ? Math.Exp : static u => u;
        for (int i = 0; i < Info.Layers; i++)
        {
            string p = $"blocks.{i}.";
            foreach (string norm in new[] { "ln1", "ln2", "att.ln_x" })
            {
                sink.Vector(checkpoint.Get(p + norm + ".weight"));
                sink.Vector(checkpoint.Get(p + norm + ".bias"));
            }
            foreach (string mix in Mixes)
            {
                sink.Vector(checkpoint.Get(p + "att." + mix));
            }
            // w = exp(-exp(time_decay)) and u, in double, one value per channel so the graph needs no per-head broadcast.
            sink.Add(p + DecayName, PerChannel(checkpoint.Get(p + DecayName), d => Math.Exp(-Math.Exp(d))), Info.Embedding);
            sink.Add(p + _bonusName, PerChannel(checkpoint.Get(p + _bonusName), bonus), Info.Embedding);
            foreach (string proj in Projections)
            {
                sink.Transposed(checkpoint.Get($"{p}att.{proj}.weight"));
            }
            sink.Vector(checkpoint.Get(p + "ffn.time_mix_k"));
            sink.Vector(checkpoint.Get(p + "ffn.time_mix_r"));
            foreach (string proj in s_ffnProjections)
            {
                sink.Transposed(checkpoint.Get($"{p}ffn.{proj}.weight"));
            }
        }
        PrepareHead(checkpoint, sink);
    }

    /// <summary>f of a per-head [H] or per-channel [H, N] tensor, as a [C] vector (a per-head value repeated N times).</summary>
    private float[] PerChannel(CheckpointTensor t, Func<double, double> f)
    {
        float[] values = t.ReadFloat32();
        int repeat = Info.Embedding / values.Length;
        var result = new float[Info.Embedding];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = (float)f(values[i / repeat]);
        }
        return result;
    }

    protected override Value TimeMix(RwkvBlock b, Value x)
    {
        Value prev = b.TokenShift("att_shift", x), d = x - prev; // x·μ + prev·(1 − μ) = prev + (x − prev)·μ
        Value[] mixes = b.Mixes(prev, d, [.. Mixes.Select(m => "att." + m)]);
        Value k = b.Linear("att.key", mixes[0]);
        Value v = b.Linear("att.value", mixes[1]);
        Value r = b.Linear("att.receptance", mixes[2]);

        // Per head, in the layouts the products want (rows [.., H, 1, N], columns [.., H, N, 1]), reshaped once.
        Value rColumn = b.HeadColumns(r), kRow = b.HeadRows(k), vColumn = b.HeadColumns(v);
        Value y;
        if (b.Chunked)
        {
            // RWKV-6's chunk with a constant decay: the recurrences differ only in where w comes from.
            Value logDecay = Expand(Max(Log(b.W(DecayName)), b.Graph.Const(RwkvV6.MinLogDecay)), Shape(k)); // per position, so padding can be 0
            y = b.HeadColumns(b.ChunkedRecurrence("wkv", ["wkv"], [(r, 0f), (logDecay, 0f), (k, 0f), (v, 0f)], splitHeads: true, x => RwkvV6.WkvChunk(b, x)));
        }
        else
        {
            Value w = b.WRows(DecayName); // per key index, broadcast over values
            y = b.Recurrence("wkv", [rColumn, kRow, vColumn], (s, t) => Wkv(s, t, w));
        }
        Value bonus = ReduceSumLastAxis(b.HeadRows(r * k * b.W(_bonusName))) * vColumn; // (u ⊙ v kᵀ)·r = (Σⱼ rⱼ uⱼ kⱼ) v, per head
        y = b.FromHeads(b.GroupNormHeadColumns("att.ln_x", y + bonus, Info.GroupNormEpsilon));
        if (_gated)
        {
            Value g = b.Linear("att.gate", mixes[3]);
            y = y * (g * Sigmoid(g)); // silu
        }
        return b.Linear("att.output", y);
    }

    // y = S r (the state before this token);  S ← S·diag(w) + v kᵀ.   S is [batch, H, N(value), N(key)]; r, v are columns, k a row, w is [H, 1, N].
    private static (Value State, Value Output) Wkv(Value s, Value[] t, Value w)
    {
        (Value r, Value k, Value v) = (t[0], t[1], t[2]);
        return (s * w + v * k, MatMul(s, r));
    }

    // r = σ(Wr xr);  k = relu(Wk xk)²;  out = r ⊙ (Wv k)
    protected override Value ChannelMix(RwkvBlock b, Value x)
    {
        Value prev = b.TokenShift("ffn_shift", x), d = x - prev;
        Value r = Sigmoid(b.Linear("ffn.receptance", prev + d * b.W("ffn.time_mix_r")));
        Value k = Relu(b.Linear("ffn.key", prev + d * b.W("ffn.time_mix_k")));
        return r * b.Linear("ffn.value", k * k);
    }
}

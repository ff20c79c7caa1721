using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.Graph;
using static Rwkv.Onnx.Export.Graph.Ops;

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>
/// RWKV-6 "Finch": RWKV-5's matrix-valued state with a data-dependent token shift (a five-way LoRA
/// over the shifted input) and a data-dependent per-channel decay (a second LoRA), as in BlinkDL's
/// <c>RWKV_Tmix_x060</c>.
/// </summary>
internal sealed partial class RwkvV6(RwkvArchitectureInfo info) : RwkvArchitecture(info)
{
    /// <summary>The token-shift LoRA produces one mix per slot, in this order (the rows of <c>time_maa_w2</c>).</summary>
    private static readonly string[] s_mixSlots = ["w", "k", "v", "r", "g"];
    private static readonly string[] s_projections = ["receptance", "key", "value", "gate", "output"];
    private static readonly string[] s_channelMixVectors = ["time_maa_k", "time_maa_r"];

    /// <summary>An RWKV-6 architecture if the checkpoint has RWKV-6's marker tensor (<c>att.time_maa_x</c>), else null.</summary>
    /// <exception cref="CheckpointFormatException">The marker is there but the sizing tensors are inconsistent.</exception>
    public static RwkvV6? TryCreate(RwkvCheckpoint c, ExportOptions options)
    {
        if (c.Find("blocks.0.att.time_maa_x") is null)
        {
            return null;
        }
        CheckpointTensor emb = Shaped(c, "emb.weight", 2);
        CheckpointTensor u = Shaped(c, "blocks.0.att.time_faaaa", 2);
        CheckpointTensor maaW1 = Shaped(c, "blocks.0.att.time_maa_w1", 2);
        if (maaW1.Shape[1] % s_mixSlots.Length != 0)
        {
            throw new CheckpointFormatException(c.Path, maaW1.Name,
                $"Tensor '{maaW1.Name}' in '{c.Path}' has shape {maaW1.ShapeText}; expected [C, 5·D] (one rank-D LoRA per mix w, k, v, r, g).");
        }
        var info = new RwkvArchitectureInfo
        {
            Version = "6",
            Layers = CountLayers(c),
            Vocab = (int)emb.Shape[0],
            Embedding = (int)emb.Shape[1],
            Heads = (int)u.Shape[0],
            HeadSize = (int)u.Shape[1],
            FfnSize = (int)Shaped(c, "blocks.0.ffn.key.weight", 2).Shape[0],
            LoraRanks = new Dictionary<string, int>
            {
                ["mix"] = (int)maaW1.Shape[1] / s_mixSlots.Length,
                ["decay"] = (int)Shaped(c, "blocks.0.att.time_decay_w1", 2).Shape[1],
            },
            Parameters = c.Tensors.Values.Sum(t => t.ElementCount),
            LayerNormEpsilon = LayerNormEpsilon,
            GroupNormEpsilon = options.GroupNormEpsilon ?? PublishedGroupNormEpsilon,
        };
        if (info.Heads * info.HeadSize != info.Embedding)
        {
            throw new CheckpointFormatException(c.Path, u.Name,
                $"Tensor '{u.Name}' in '{c.Path}' has shape {u.ShapeText}: {info.Heads} heads × {info.HeadSize} do not make the width {info.Embedding} of 'emb.weight'.");
        }
        return new RwkvV6(info);
    }

    private int MixRank => Info.LoraRanks["mix"];

    private int DecayRank => Info.LoraRanks["decay"];

    protected override IEnumerable<(string Name, long[] Shape)> LayerTensors(int l, string p)
    {
        long c = Info.Embedding, f = Info.FfnSize, dm = MixRank, dw = DecayRank;
        yield return (p + "att.ln_x.weight", [c]);
        yield return (p + "att.ln_x.bias", [c]);
        foreach (string slot in s_mixSlots.Prepend("x"))
        {
            yield return ($"{p}att.time_maa_{slot}", [1, 1, c]);
        }
        yield return (p + "att.time_maa_w1", [c, s_mixSlots.Length * dm]);
        yield return (p + "att.time_maa_w2", [s_mixSlots.Length, dm, c]);
        yield return (p + "att.time_decay", [1, 1, c]);
        yield return (p + "att.time_decay_w1", [c, dw]);
        yield return (p + "att.time_decay_w2", [dw, c]);
        yield return (p + "att.time_faaaa", [Info.Heads, Info.HeadSize]);
        foreach (string n in s_projections)
        {
            yield return ($"{p}att.{n}.weight", [c, c]);
        }
        foreach (string n in s_channelMixVectors)
        {
            yield return ($"{p}ffn.{n}", [1, 1, c]);
        }
        yield return (p + "ffn.key.weight", [f, c]);
        yield return (p + "ffn.receptance.weight", [c, c]);
        yield return (p + "ffn.value.weight", [c, f]);
    }

    /// <summary>wkv is [H, N(value), N(key)], as for RWKV-7 (ChatRWKV's v6 state is the transpose, [H, key, value]).</summary>
    public override IReadOnlyList<StateSlot> StateSlots { get; } =
    [
        StateSlot.Channels("att_shift", info.Embedding),
        StateSlot.ValueKeyMatrices("wkv", info.Heads, info.HeadSize) with { TimeState = StateSlot.PeftTimeState },
        StateSlot.Channels("ffn_shift", info.Embedding),
    ];

    // Five mixes, five projections and two LoRAs, more of them alive at once than RWKV-7's.
    public override int PrefillTokenWidths => 84;

    public override void PrepareWeights(RwkvCheckpoint checkpoint, WeightSink sink)
    {
        PrepareEmbedding(checkpoint, sink);
        for (int i = 0; i < Info.Layers; i++)
        {
            string p = $"blocks.{i}.";
            foreach (string norm in new[] { "ln1", "ln2", "att.ln_x" })
            {
                sink.Vector(checkpoint.Get(p + norm + ".weight"));
                sink.Vector(checkpoint.Get(p + norm + ".bias"));
            }
            // [1, 1, C] and [H, N] parameters become [C] vectors; time_decay stays the raw w (exp(-exp(.)) is data-dependent now).
            foreach (string name in s_mixSlots.Prepend("x").Select(s => "time_maa_" + s).Append("time_decay").Append("time_faaaa"))
            {
                sink.Vector(checkpoint.Get(p + "att." + name));
            }
            sink.LoraFactor(checkpoint.Get(p + "att.time_maa_w1"));
            CheckpointTensor maaW2 = checkpoint.Get(p + "att.time_maa_w2");
            sink.Add(maaW2.Name, maaW2.ReadFloat32(), [.. maaW2.Shape]);
            sink.LoraFactor(checkpoint.Get(p + "att.time_decay_w1"));
            sink.LoraFactor(checkpoint.Get(p + "att.time_decay_w2"));
            foreach (string proj in s_projections)
            {
                sink.Transposed(checkpoint.Get($"{p}att.{proj}.weight"));
            }
            foreach (string name in s_channelMixVectors)
            {
                sink.Vector(checkpoint.Get($"{p}ffn.{name}"));
            }
            sink.Transposed(checkpoint.Get(p + "ffn.key.weight"));
            sink.Transposed(checkpoint.Get(p + "ffn.receptance.weight"));
            sink.Transposed(checkpoint.Get(p + "ffn.value.weight"));
        }
        PrepareHead(checkpoint, sink);
    }

    protected override Value TimeMix(RwkvBlock b, Value x)
    {
        Value xx = b.TokenShift("att_shift", x) - x;
        Value[] mixes = b.Mixes(x, xx, [.. s_mixSlots.Select(slot => "att.time_maa_" + slot)], TokenShiftLora(b, x + xx * b.W("att.time_maa_x")));
        (Value xw, Value xk, Value xv, Value xr, Value xg) = (mixes[0], mixes[1], mixes[2], mixes[3], mixes[4]);

        Value r = b.Linear("att.receptance", xr);
        Value k = b.Linear("att.key", xk);
        Value v = b.Linear("att.value", xv);
        Value gate = b.Linear("att.gate", xg);
        Value g = gate * Sigmoid(gate); // SiLU
        Value logDecay;
        using (b.Graph.Scope("time_decay"))
        {
            Value w = b.W("att.time_decay") + b.Lora("att.time_decay_w2", Tanh(b.Lora("att.time_decay_w1", xw)));
            logDecay = -Exp(w); // decay = exp(-exp(w))
        }

        // Per head, in the layouts the products want (rows [.., H, 1, N], columns [.., H, N, 1]), reshaped once.
        Value rColumn = b.HeadColumns(r), kRow = b.HeadRows(k), vColumn = b.HeadColumns(v);
        Value y = b.Chunked
            ? b.HeadColumns(b.ChunkedRecurrence("wkv", ["wkv"], [(r, 0f), (Max(logDecay, b.Graph.Const(MinLogDecay)), 0f), (k, 0f), (v, 0f)], splitHeads: true, x => WkvChunk(b, x)))
            : b.Recurrence("wkv", [rColumn, b.HeadRows(Exp(logDecay)), kRow, vColumn], Wkv);
        // The bonus term of y = r·(u ⊙ k vᵀ + S) is per token, so it stays out of the recurrence: (Σⱼ kⱼ rⱼ uⱼ) v, per head.
        Value bonus = ReduceSumLastAxis(b.HeadRows(r * b.W("att.time_faaaa") * k)) * vColumn;
        y = b.GroupNormHeadColumns("att.ln_x", y + bonus, Info.GroupNormEpsilon);
        return b.Linear("att.output", b.FromHeads(y) * g);
    }

    // [m_w, m_k, m_v, m_r, m_g] = rows of tanh(xxx · w1) (5 × D), row s times w2[s]: one MatMul batched over the five slots,
    // returned side by side as [.., 5·C] (slot-major, like the concatenated time_maa_{slot}).
    private Value TokenShiftLora(RwkvBlock b, Value xxx)
    {
        using IDisposable _ = b.Graph.Scope("time_maa");
        Value h = Tanh(b.Lora("att.time_maa_w1", xxx));                               // [.., 5·D]
        Value rows = Transpose(Reshape(h, -1, s_mixSlots.Length, MixRank), 1, 0, 2); // [5, B·T, D]
        Value m = Transpose(MatMul(rows, b.W("att.time_maa_w2")), 1, 0, 2);          // [B·T, 5, C]
        long side = s_mixSlots.Length * Info.Embedding;
        return b.Kind == GraphKind.Step
            ? Reshape(m, 0, side)
            : Reshape(m, Mul(Shape(xxx), b.Graph.Int64s(1, 1, s_mixSlots.Length)));
    }

    // y = S r (the state before this token);  S ← S·diag(w) + v kᵀ.   S is [batch, H, N(value), N(key)]; r, v are columns, w, k rows.
    private static (Value State, Value Output) Wkv(Value s, Value[] t)
    {
        (Value r, Value w, Value k, Value v) = (t[0], t[1], t[2], t[3]);
        return (s * w + v * k, MatMul(s, r));
    }

    // out = σ(x_r-mixed · Wr) ⊙ (relu(x_k-mixed · Wk)² · Wv)
    protected override Value ChannelMix(RwkvBlock b, Value x)
    {
        Value xx = b.TokenShift("ffn_shift", x) - x;
        Value k = Relu(b.Linear("ffn.key", x + xx * b.W("ffn.time_maa_k")));
        Value r = Sigmoid(b.Linear("ffn.receptance", x + xx * b.W("ffn.time_maa_r")));
        return r * b.Linear("ffn.value", k * k);
    }
}

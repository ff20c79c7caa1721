using System.Numerics.Tensors;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.Graph;
using static Rwkv.Onnx.Export.Graph.Ops;

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>
/// RWKV-7 "Goose": a generalised delta rule with per-channel decay w, in-context learning rate a,
/// removal key kk and a value residual from layer 0 (v_first). With <see cref="DeepEmbed"/>, RWKV-7a: the channel mix
/// is scaled by a token-indexed table per layer (see <see cref="ChannelMix"/>). With <see cref="Dea"/> as well, RWKV-7b:
/// each block adds a small softmax attention over every earlier token (RwkvV7.DeepEmbedAttention.cs).
/// </summary>
internal sealed partial class RwkvV7(RwkvArchitectureInfo info, RwkvV7.DeepEmbedShape? deepEmbed = null, RwkvV7.DeaShape? dea = null) : RwkvArchitecture(info)
{
    /// <summary>The manifest's variant name of RWKV-7a.</summary>
    public const string DeepEmbedVariant = "deepembed";

    /// <summary>
    /// DeepEmbed's sizes: rank D (upstream hard-codes 32), so each token's table row is a D×D matrix; and whether
    /// <c>ffn.s0</c> is stored [1, 1, F] (as trained) or squeezed to [F].
    /// </summary>
    public sealed record DeepEmbedShape(int Rank, bool SqueezedScale);

    /// <summary>DeepEmbed's sizes, or null for the base RWKV-7.</summary>
    public DeepEmbedShape? DeepEmbed { get; } = deepEmbed;

    private static readonly float s_expMinusHalf = MathF.Exp(-0.5f);
    private static readonly string[] s_mixes = ["x_r", "x_w", "x_k", "x_v", "x_a", "x_g"];
    private static readonly string[] s_vectors = ["w0", "a0", "k_k", "k_a"];
    private static readonly string[] s_projections = ["receptance", "key", "value", "output"];
    private static readonly string[] s_loras = ["w", "a", "g"];
    private Value _vFirst;

    /// <summary>An RWKV-7 architecture if the checkpoint has RWKV-7's marker tensors (<c>att.k_k</c>, <c>att.r_k</c>), else null.</summary>
    public static RwkvV7? TryCreate(RwkvCheckpoint c, ExportOptions options)
    {
        if (c.Find("blocks.0.att.k_k") is null || c.Find("blocks.0.att.r_k") is null)
        {
            return null;
        }
        CheckpointTensor emb = Shaped(c, "emb.weight", 2);
        CheckpointTensor rk = Shaped(c, "blocks.0.att.r_k", 2);
        int layers = CountLayers(c);
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
            // Layer 0 has no value LoRA (it is the value every later layer mixes in), so a one-layer model has no "v" rank.
            LoraRanks = layers > 1
                ? new Dictionary<string, int>
                {
                    ["w"] = rank("blocks.0.att.w1"),
                    ["a"] = rank("blocks.0.att.a1"),
                    ["v"] = rank("blocks.1.att.v1"),
                    ["g"] = rank("blocks.0.att.g1"),
                }
                : new Dictionary<string, int> { ["w"] = rank("blocks.0.att.w1"), ["a"] = rank("blocks.0.att.a1"), ["g"] = rank("blocks.0.att.g1") },
            Parameters = c.Tensors.Values.Sum(t => t.ElementCount),
            LayerNormEpsilon = LayerNormEpsilon,
            GroupNormEpsilon = options.GroupNormEpsilon ?? PublishedGroupNormEpsilon,
        };
        if (info.Heads * info.HeadSize != info.Embedding)
        {
            throw new CheckpointFormatException(c.Path, "blocks.0.att.r_k",
                $"Tensor 'blocks.0.att.r_k' in '{c.Path}' has shape {rk.ShapeText}: {info.Heads} heads × {info.HeadSize} do not make the width {info.Embedding} of 'emb.weight'.");
        }
        if (c.Find("blocks.0.ffn.s_emb.weight") is null)
        {
            return new RwkvV7(info);
        }
        // RWKV-7a (DeepEmbed): the rank from s1 [C, D]; every other shape is then checked by CheckTensors.
        var deepEmbed = new DeepEmbedShape((int)Shaped(c, "blocks.0.ffn.s1", 2).Shape[1], c.Get("blocks.0.ffn.s0").Shape.Count == 1);
        if (c.Find("blocks.0.qkv.qq.weight") is null)
        {
            return new RwkvV7(info with { Variant = DeepEmbedVariant }, deepEmbed);
        }
        // RWKV-7b (DeepEmbed + DEA): the query width from qq [Q, C], the rank from k1 [C, R].
        var dea = new DeaShape((int)Shaped(c, "blocks.0.qkv.qq.weight", 2).Shape[0], (int)Shaped(c, "blocks.0.qkv.k1", 2).Shape[1],
            options.ContextLimit ?? ExportOptions.DefaultContextLimit);
        return new RwkvV7(info with { Variant = DeaVariant }, deepEmbed, dea);
    }

    protected override string Description => Dea is not null ? "RWKV-7b (DeepEmbed + DEA)" : DeepEmbed is null ? "RWKV-7" : "RWKV-7a (DeepEmbed)";

    protected override IEnumerable<(string Name, long[] Shape)> LayerTensors(int l, string p)
    {
        long c = Info.Embedding, f = Info.FfnSize;
        yield return (p + "att.ln_x.weight", [c]);
        yield return (p + "att.ln_x.bias", [c]);
        foreach (string n in s_mixes.Concat(s_vectors))
        {
            yield return (p + "att." + n, [1, 1, c]);
        }
        yield return (p + "att.r_k", [Info.Heads, Info.HeadSize]);
        foreach (string n in s_projections)
        {
            yield return ($"{p}att.{n}.weight", [c, c]);
        }
        foreach ((string lora, int rank) in Info.LoraRanks)
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
        if (DeepEmbed is { } de)
        {
            long d = de.Rank;
            yield return (p + "ffn.s_emb.weight", [Info.Vocab, d * d]);
            yield return (p + "ffn.s_emb_x.weight", [d * d, c]);
            yield return (p + "ffn.s1", [c, d]);
            yield return (p + "ffn.s2", [d, f]);
            yield return (p + "ffn.s0", de.SqueezedScale ? [f] : [1, 1, f]);
        }
        foreach ((string Name, long[] Shape) tensor in DeaTensors(p))
        {
            yield return tensor;
        }
    }

    // s_emb_x is folded into s_emb (PrepareDeepEmbed), and DEA's k_emb_x and v_emb_x into theirs, so fewer tensors are written.
    public override int PreparedTensorCount => base.PreparedTensorCount - ((DeepEmbed is null ? 0 : 1) + (Dea is null ? 0 : 2)) * Info.Layers;

    protected override string UnreadHint(IReadOnlyList<string> unread)
    {
        if (unread.Any(n => n.Contains(".qkv.", StringComparison.Ordinal)))
        {
            // DEA is read only with DeepEmbed, as in every RWKV-7b (RWKV-LM rwkv_v7b_demo.py).
            return "; 'blocks.{i}.qkv.*' are the DeepEmbedAttention (DEA) tensors of an RWKV-7b model, which come with DeepEmbed's " +
                "'blocks.{i}.ffn.s_emb.weight', and this checkpoint has none (README, \"RWKV-7 variants\")";
        }
        return "";
    }

    public override IReadOnlyList<StateSlot> StateSlots { get; } =
    [
        StateSlot.Channels("att_shift", info.Embedding),
        StateSlot.ValueKeyMatrices("wkv", info.Heads, info.HeadSize) with { TimeState = StateSlot.PeftTimeState },
        StateSlot.Channels("ffn_shift", info.Embedding),
        .. DeaSlots(dea),
    ];

    // Six mixes, six projections and four LoRAs.
    public override int PrefillTokenWidths => 70;

    public override bool ChunkKeepsPairDecays => false; // its chunk builds no [L, L, C] pair decays

    public override void PrepareWeights(RwkvCheckpoint checkpoint, WeightSink sink)
    {
        float[] embedding = PrepareEmbedding(checkpoint, sink);
        for (int i = 0; i < Info.Layers; i++)
        {
            string p = $"blocks.{i}.";
            foreach (string norm in new[] { "ln1", "ln2", "att.ln_x" })
            {
                sink.Vector(checkpoint.Get(p + norm + ".weight"));
                sink.Vector(checkpoint.Get(p + norm + ".bias"));
            }
            foreach (string name in s_mixes.Concat(s_vectors).Append("r_k"))
            {
                sink.Vector(checkpoint.Get(p + "att." + name));
            }
            foreach (string proj in s_projections)
            {
                sink.Transposed(checkpoint.Get($"{p}att.{proj}.weight"));
            }
            foreach (string lora in i == 0 ? s_loras : [.. s_loras, "v"])
            {
                sink.Matrix(checkpoint.Get($"{p}att.{lora}1"));
                sink.Matrix(checkpoint.Get($"{p}att.{lora}2"));
            }
            if (i > 0)
            {
                sink.Vector(checkpoint.Get(p + "att.v0"));
            }
            sink.Vector(checkpoint.Get(p + "ffn.x_k"));
            sink.Transposed(checkpoint.Get(p + "ffn.key.weight"));
            sink.Transposed(checkpoint.Get(p + "ffn.value.weight"));
            if (DeepEmbed is not null)
            {
                PrepareDeepEmbed(checkpoint, sink, p, embedding);
            }
            if (Dea is not null)
            {
                PrepareDea(checkpoint, sink, p, embedding);
            }
        }
        PrepareHead(checkpoint, sink);
    }

    // As upstream merges the embedding residual once at load: s_emb ← s_emb + LN0(emb) · s_emb_xᵀ, [V, D²]. The table is
    // gathered one row per token (like emb) and s1, s2 are rank-D factors (like the LoRAs), so none is quantized.
    private void PrepareDeepEmbed(RwkvCheckpoint checkpoint, WeightSink sink, string p, float[] embedding)
    {
        int width = DeepEmbed!.Rank * DeepEmbed.Rank;
        sink.Add(p + "ffn.s_emb.weight", FoldEmbedding(checkpoint, p + "ffn.s_emb", embedding, width), Info.Vocab, width);
        sink.Matrix(checkpoint.Get(p + "ffn.s1"));
        sink.Matrix(checkpoint.Get(p + "ffn.s2"));
        sink.Vector(checkpoint.Get(p + "ffn.s0"));
    }

    // A token-indexed table with the embedding residual merged in, as upstream does at load: T ← T + LN0(emb) · Xᵀ, with
    // T = {name}.weight [V, width] and X = {name}_x.weight [width, C] (each row one output's weights).
    private float[] FoldEmbedding(RwkvCheckpoint checkpoint, string name, float[] embedding, int width)
    {
        int c = Info.Embedding;
        float[] table = checkpoint.Get(name + ".weight").ReadFloat32();
        float[] x = checkpoint.Get(name + "_x.weight").ReadFloat32();
        Parallel.For(0, Info.Vocab, row =>
        {
            ReadOnlySpan<float> e = embedding.AsSpan(row * c, c);
            Span<float> t = table.AsSpan(row * width, width);
            for (int j = 0; j < width; j++)
            {
                t[j] += TensorPrimitives.Dot(e, x.AsSpan(j * c, c));
            }
        });
        return table;
    }

    protected override Value TimeMix(RwkvBlock b, Value x)
    {
        Value xx = b.TokenShift("att_shift", x) - x;
        Value[] mixes = b.Mixes(x, xx, [.. s_mixes.Select(m => "att." + m)]);
        (Value xr, Value xw, Value xk, Value xv, Value xa, Value xg) = (mixes[0], mixes[1], mixes[2], mixes[3], mixes[4], mixes[5]);

        Value r = b.Linear("att.receptance", xr);
        Value w = b.W("att.w0") + MatMul(Tanh(MatMul(xw, b.W("att.w1"))), b.W("att.w2"));
        Value k = b.Linear("att.key", xk);
        Value v = b.Linear("att.value", xv);
        Value a = Sigmoid(b.W("att.a0") + MatMul(MatMul(xa, b.W("att.a1")), b.W("att.a2")));
        Value g = MatMul(Sigmoid(MatMul(xg, b.W("att.g1"))), b.W("att.g2"));

        // Per head, in the layouts the products want (rows [.., H, 1, N], columns [.., H, N, 1]), reshaped once.
        Value kRow = b.HeadRows(k), aRow = b.HeadRows(a);
        Value kk = b.L2NormalizeRows(kRow * b.WRows("att.k_k"));
        kRow = kRow * (1f + (aRow - 1f) * b.WRows("att.k_a"));
        if (b.Layer == 0)
        {
            _vFirst = v;
        }
        else
        {
            v = v + (_vFirst - v) * Sigmoid(b.W("att.v0") + MatMul(MatMul(xv, b.W("att.v1")), b.W("att.v2")));
        }
        Value logDecay = Sigmoid(w) * -s_expMinusHalf; // decay = exp(-exp(-0.5)·σ(w)) = exp(-exp(w')), w' = -softplus(-w) - 0.5

        Value rColumn = b.HeadColumns(r), vColumn = b.HeadColumns(v), kkaRow = kk * aRow;
        Value y;
        if (b.Chunked)
        {
            Value kkFlat = b.FromHeads(kk);
            y = b.HeadColumns(b.ChunkedRecurrence("wkv", ["wkv"], [(r, 0f), (logDecay, 0f), (b.FromHeads(kRow), 0f), (v, 0f), (-kkFlat, 0f), (b.FromHeads(kkaRow), 0f)],
                splitHeads: true, x => WkvChunk(b, x)));
        }
        else
        {
            Value[] perToken = [rColumn, b.HeadRows(Exp(logDecay)), kRow, vColumn, b.HeadColumns(kk), -kkaRow];
            y = b.Recurrence("wkv", perToken, Wkv);
        }
        y = b.GroupNormHeadColumns("att.ln_x", y, Info.GroupNormEpsilon);
        // (Σⱼ rⱼ kⱼ r_kⱼ) v, per head: a Mul and ReduceSum, as a batched MatMul of [1, N]·[N, 1] costs prefill ~5 % (T·H tiny GEMMs).
        Value bonus = ReduceSumLastAxis(b.HeadRows(r) * kRow * b.WRows("att.r_k")) * vColumn;
        return b.Linear("att.output", b.FromHeads(y + bonus) * g);
    }

    // S ← S·diag(w) − (S·kk)(kk·a)ᵀ + v kᵀ;  y = S r.   S is [batch, H, N(value), N(key)]; r, v, kk are columns, w, k, −kk·a rows.
    // The two rank-1 terms are one [N, 2]·[2, N] product: two fewer passes over the state than Mul, Sub, Mul, Add.
    private static (Value State, Value Output) Wkv(Value s, Value[] t)
    {
        (Value r, Value w, Value k, Value v, Value kk, Value negKka) = (t[0], t[1], t[2], t[3], t[4], t[5]);
        s = s * w + MatMul(Concat(-1, MatMul(s, kk), v), Concat(-2, negKka, k));
        return (s, MatMul(s, r));
    }

    // k = relu(x_k-mixed · Wk)²;  out = k · Wv.  DeepEmbed scales k by ((x·s1) · S[token]) · s2 + s0, with S[token] the
    // token's D×D row of the merged s_emb table and x the un-shifted input (RWKV-LM rwkv_v7a_demo.py, RWKV_x070_CMix_one).
    protected override Value ChannelMix(RwkvBlock b, Value x)
    {
        Value xx = b.TokenShift("ffn_shift", x) - x;
        Value k = Relu(b.Linear("ffn.key", x + xx * b.W("ffn.x_k")));
        k = k * k;
        if (DeepEmbed is { Rank: var d })
        {
            using IDisposable _ = b.Graph.Scope("deep_embed");
            Value rows = Embedding(b.Graph, $"blocks.{b.Layer}.ffn.s_emb.weight", Tokens);
            Value matrices = b.Kind == GraphKind.Step ? Reshape(rows, 0, d, d) : Reshape(rows, 0, 0, d, d);
            Value projected = MatMul(Unsqueeze(MatMul(x, b.W("ffn.s1")), -2), matrices); // [.., 1, D]
            k = k * (MatMul(Squeeze(projected, -2), b.W("ffn.s2")) + b.W("ffn.s0"));
        }
        return b.Linear("ffn.value", k);
    }
}

using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.Graph;
using static Rwkv.Onnx.Export.Graph.Ops;

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>
/// RWKV-7b's DeepEmbedAttention (RWKV-LM <c>RWKV-v7/rwkv_v7b_demo.py</c>, <c>forward_seq</c>): per block, a one-head
/// softmax attention from each token over every token so far, added to the residual stream next to the time mix. Its
/// cache keeps per token the rank-R projections x·k1 and x·v1 and the token id (for the k_emb/v_emb tables), in state
/// slots with a <c>token</c> axis of a capacity fixed at export, plus a count of the tokens held and the previous
/// token's query.
/// </summary>
internal sealed partial class RwkvV7
{
    /// <summary>The manifest's variant name of RWKV-7b.</summary>
    public const string DeaVariant = "deepembed-attention";

    /// <summary>The state axis that counts tokens; its length is the capacity.</summary>
    public const string TokenAxis = "token";

    private const string KeyCache = "dea_k", ValueCache = "dea_v", TokenCache = "dea_tokens", QueryShift = "dea_q", Length = "dea_length";

    // Upstream's soft cap of the scores: 64·tanh(s / 1024).
    private const float ScoreCap = 64f, ScoreScale = 1f / 1024f;

    /// <summary>
    /// DEA's sizes: the query/key width Q (256 upstream), the rank R of the cached projections (32 upstream) and the
    /// capacity of the cache in tokens (<see cref="ExportOptions.ContextLimit"/>).
    /// </summary>
    public sealed record DeaShape(int QueryWidth, int Rank, int Capacity);

    /// <summary>DEA's sizes, or null without DeepEmbedAttention.</summary>
    public DeaShape? Dea { get; } = dea;

    public override (int MaxTokens, string LengthSlot)? TokenCapacity => Dea is { } d ? (d.Capacity, Length) : null;

    // The step computes keys [P, Q] and values [P, C] of every cached token (and their shifted, normalised copies), then
    // one score per token, P = the capacity at worst; a prefill token adds a row of scores over P + T and its softmax.
    public override long ExtraStepFloatsPerSequence => Dea is { } d ? 4L * d.Capacity * (d.QueryWidth + Info.Embedding + 1) : 0;

    public override long ExtraPrefillFloatsPerToken => Dea is { } d ? 3L * d.Capacity : 0;

    // Slots beyond RWKV-7's: the cached projections [capacity, R], the token ids [capacity] (as float32, exact below 2^24),
    // the previous token's query [Q] and the count of tokens held [1]. Every layer keeps its own ids and count (4 + 4/capacity
    // bytes per token, against 2·4·R), so that each slot stays per layer like every other state.
    private static StateSlot[] DeaSlots(DeaShape? dea) => dea is null ? [] :
    [
        new(KeyCache, [dea.Capacity, dea.Rank], [TokenAxis, "rank"]),
        new(ValueCache, [dea.Capacity, dea.Rank], [TokenAxis, "rank"]),
        new(TokenCache, [dea.Capacity], [TokenAxis]),
        StateSlot.Channels(QueryShift, dea.QueryWidth),
        new(Length, [1], ["count"]),
    ];

    private IEnumerable<(string Name, long[] Shape)> DeaTensors(string p)
    {
        if (Dea is not { } d)
        {
            yield break;
        }
        long c = Info.Embedding, q = d.QueryWidth, r = d.Rank, v = Info.Vocab;
        yield return (p + "qkv.qq.weight", [q, c]);
        yield return (p + "qkv.k1", [c, r]);
        yield return (p + "qkv.k2", [r, q]);
        yield return (p + "qkv.k_emb.weight", [v, q]);
        yield return (p + "qkv.k_emb_x.weight", [q, c]);
        yield return (p + "qkv.v1", [c, r]);
        yield return (p + "qkv.v2", [r, c]);
        yield return (p + "qkv.v_emb.weight", [v, c]);
        yield return (p + "qkv.v_emb_x.weight", [c, c]);
        yield return (p + "qkv.x_q", [1, 1, q]);
        yield return (p + "qkv.x_k", [1, 1, q]);
        yield return (p + "qkv.x_v", [1, 1, c]);
        foreach ((string norm, long width) in new[] { ("lnq", q), ("lnk", q), ("lnv", c) })
        {
            yield return ($"{p}qkv.{norm}.weight", [width]);
            yield return ($"{p}qkv.{norm}.bias", [width]);
        }
    }

    // qq is a projection like att.key (quantized in int8/int4 exports); k1, k2, v1, v2 are rank-R factors like the LoRAs,
    // and k_emb, v_emb tables gathered by token like emb, with the embedding residual folded in as upstream does at load:
    // none of those is quantized.
    private void PrepareDea(RwkvCheckpoint checkpoint, WeightSink sink, string p, float[] embedding)
    {
        sink.Transposed(checkpoint.Get(p + "qkv.qq.weight"));
        sink.Matrix(checkpoint.Get(p + "qkv.k1"));
        sink.Matrix(checkpoint.Get(p + "qkv.k2"));
        sink.Add(p + "qkv.k_emb.weight", FoldEmbedding(checkpoint, p + "qkv.k_emb", embedding, Dea!.QueryWidth), Info.Vocab, Dea.QueryWidth);
        sink.Matrix(checkpoint.Get(p + "qkv.v1"));
        sink.Matrix(checkpoint.Get(p + "qkv.v2"));
        sink.Add(p + "qkv.v_emb.weight", FoldEmbedding(checkpoint, p + "qkv.v_emb", embedding, Info.Embedding), Info.Vocab, Info.Embedding);
        foreach (string name in new[] { "x_q", "x_k", "x_v", "lnq.weight", "lnq.bias", "lnk.weight", "lnk.bias", "lnv.weight", "lnv.bias" })
        {
            sink.Vector(checkpoint.Get(p + "qkv." + name));
        }
    }

    // For the T new tokens at positions n..n+T-1 of a sequence that held n (step: T = 1), with x the block's input:
    //   cache ← cache with rows n.. set to x·k1, x·v1 and the token ids
    //   K = LN_k(shift_x_k((cache_k · k2) ⊙ k_emb[ids]))       over every cached row (shift: the row before, 0 for row 0)
    //   V = LN_v(shift_x_v(tanh(cache_v · v2) ⊙ v_emb[ids]))
    //   q = LN_q(shift_x_q(x · qq)), the previous token's query (in the state) before the first
    //   out = softmax(64·tanh(q Kᵀ / 1024), rows ≤ own position) · V
    // K and V are recomputed from the low-rank cache at every run, as upstream does. Rows past the longest sequence of the
    // batch are not read; rows past a sequence's own position are masked, so sequences of unequal lengths batch together.
    protected override Value? BlockInputBranch(RwkvBlock b, Value x)
    {
        if (Dea is not { } d)
        {
            return null;
        }
        using IDisposable _ = b.Graph.Scope("qkv");
        OnnxGraph g = b.Graph;
        bool step = b.Kind == GraphKind.Step;
        Value x3 = step ? Unsqueeze(x, 1) : x;                        // [B, T, C]
        Value ids = step ? Unsqueeze(Tokens, 1) : Tokens;             // [B, T] int64
        Value held = b.Past(Length);                                  // [B, 1]
        Value start = Cast(held, ElementType.Int64);
        Value count = Dim(Shape(ids), 1);                             // [1]: T
        Value positions = start + Unsqueeze(Range(g.Int64(0), Squeeze(count, 0), g.Int64(1)), 0); // [B, T]
        Value batchRows = Unsqueeze(Range(g.Int64(0), Squeeze(Dim(Shape(ids), 0), 0), g.Int64(1)), 1);
        Value indices = Concat(-1, Unsqueeze(Expand(batchRows, Shape(positions)), -1), Unsqueeze(positions, -1)); // [B, T, 2]

        Value keyCache = ScatterND(b.Past(KeyCache), indices, MatMul(x3, b.W("qkv.k1")));
        Value valueCache = ScatterND(b.Past(ValueCache), indices, MatMul(x3, b.W("qkv.v1")));
        Value tokenCache = ScatterND(b.Past(TokenCache), indices, Cast(ids, ElementType.Float));
        b.Write(KeyCache, keyCache);
        b.Write(ValueCache, valueCache);
        b.Write(TokenCache, tokenCache);
        b.Write(Length, held + Cast(count, ElementType.Float));

        Value q = b.Linear("qkv.qq", x3);                              // [B, T, Q]
        Value previous = Unsqueeze(b.Past(QueryShift), 1);
        b.Write(QueryShift, Squeeze(Slice(q, -1, long.MaxValue, axis: 1), 1));
        Value qShifted = step ? previous : Concat(1, previous, Slice(q, 0, -1, axis: 1));
        q = q + (qShifted - q) * b.W("qkv.x_q");
        q = LayerNorm(q, b.W("qkv.lnq.weight"), b.W("qkv.lnq.bias"), Info.LayerNormEpsilon);

        // Only the rows up to the longest sequence of the batch.
        Value end = Reshape(ReduceMax(start, 0), 1) + count;
        Value rows = Cast(Slice(tokenCache, g.Int64s(0), end, axis: 1), ElementType.Int64); // [B, P]
        string p = $"blocks.{b.Layer}.qkv.";
        Value k = MatMul(Slice(keyCache, g.Int64s(0), end, axis: 1), b.W("qkv.k2")) * Embedding(g, p + "k_emb.weight", rows);
        Value v = Tanh(MatMul(Slice(valueCache, g.Int64s(0), end, axis: 1), b.W("qkv.v2"))) * Embedding(g, p + "v_emb.weight", rows);
        k = LayerNorm(k + (PreviousRow(k) - k) * b.W("qkv.x_k"), b.W("qkv.lnk.weight"), b.W("qkv.lnk.bias"), Info.LayerNormEpsilon);
        v = LayerNorm(v + (PreviousRow(v) - v) * b.W("qkv.x_v"), b.W("qkv.lnv.weight"), b.W("qkv.lnv.bias"), Info.LayerNormEpsilon);

        Value scores = Tanh(MatMul(q, Transpose(k, 0, 2, 1)) * ScoreScale) * ScoreCap; // [B, T, P]
        Value cached = Reshape(Range(g.Int64(0), Squeeze(end, 0), g.Int64(1)), 1, 1, -1);
        scores = Where(LessOrEqual(cached, Unsqueeze(positions, -1)), scores, g.Const(float.NegativeInfinity));
        Value y = MatMul(Softmax(scores, -1), v);                       // [B, T, C]
        return step ? Squeeze(y, 1) : y;
    }

    // Each row's predecessor along axis 1 of [B, P, W], zeros for row 0 (upstream's F.pad(k, (0, 0, 1, -1))).
    private static Value PreviousRow(Value x) => Slice(Pad(x, x.Graph.Int64s(0, 1, 0, 0, 0, 0), x.Graph.Const(0f)), 0, -1, axis: 1);
}

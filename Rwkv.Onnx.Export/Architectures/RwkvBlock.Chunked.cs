using Rwkv.Onnx.Export.Graph;
using static Rwkv.Onnx.Export.Graph.Ops;

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>The chunked-parallel form of the recurrence, for prefill graphs.</summary>
internal sealed partial class RwkvBlock
{
    /// <summary>
    /// Runs the recurrence named <paramref name="name"/> over chunks of L = <see cref="WkvChunkLength"/> tokens.
    /// Inputs are [batch, T, C], each padded at the end to a multiple of L with its neutral value (a position that
    /// leaves the state as it is) and cut into chunks: [batch, T/L, H, L, N] with <paramref name="splitHeads"/>, else
    /// [batch, T/L, L, C]. <paramref name="chunk"/> builds the parallel part from those; a Scan over the chunk axis
    /// then carries the states (its body is <see cref="ChunkedWkv.Step"/>, a few ops per chunk), and
    /// <see cref="ChunkedWkv.Output"/> turns the states entering each chunk into the output, in the chunked layout.
    /// Returns the output as [batch, T, C] without the padding and writes the final states.
    /// </summary>
    public Value ChunkedRecurrence(string name, string[] slots, (Value X, float Neutral)[] inputs, bool splitHeads, Func<Value[], ChunkedWkv> chunk)
    {
        using IDisposable _ = Graph.Scope(name);
        int l = WkvChunkLength;
        Value t = Dim(Shape(inputs[0].X), 1);                                         // [1] int64
        Value padded = Mul(Div(Add(t, Graph.Int64s(l - 1)), Graph.Int64s(l)), Graph.Int64s(l));
        Value pads = Concat(0, Graph.Int64s(0, 0, 0, 0), Sub(padded, t), Graph.Int64s(0)); // [B, T, C]: pad the end of T
        Value[] xs = [.. inputs.Select(i => ToChunks(Padded(Pad(i.X, pads, Graph.Const(i.Neutral))), splitHeads))];

        ChunkedWkv form = chunk(xs);
        OnnxGraph g = Graph.CreateSubgraph("chunk_scan_body");
        Value[] carried = [.. slots.Select(slot => g.BodyInput($"/blocks.{Layer}/{name}/{slot}_in", ElementType.Float))];
        Value[] perChunk = [.. form.PerChunk.Select((_, i) => g.BodyInput($"/blocks.{Layer}/{name}/c{i}_in", ElementType.Float))];
        Value[] next = form.Step(carried, perChunk);
        CheckCount(slots, next);
        for (int i = 0; i < slots.Length; i++)
        {
            g.BodyOutput(next[i], $"/blocks.{Layer}/{name}/{slots[i]}_out", ElementType.Float);
        }
        for (int i = 0; i < slots.Length; i++)
        {
            g.BodyOutput(carried[i], $"/blocks.{Layer}/{name}/{slots[i]}_entering", ElementType.Float);
        }
        Value[] results = Scan([.. slots.Select(Past)], form.PerChunk, g.Proto, scanOutputs: slots.Length);
        WriteAll(slots, results[..slots.Length]);
        Value y = FromChunks(form.Output(results[slots.Length..]), splitHeads);
        return Graph.DeclareShape(Slice(y, Graph.Int64s(0), t, axis: 1), ElementType.Float, RwkvContract.BatchDim, RwkvContract.SequenceDim, (long)_info.Embedding);
    }

    // Names for the dimensions shape inference leaves unnamed (see OnnxGraph.DeclareShape): T padded to a multiple of
    // L, and T/L. The prefill graph has one T and one L, so each name is one size wherever it appears.
    private const string PaddedDim = "wkv_padded";
    private const string ChunksDim = "wkv_chunks";

    private Value Padded(Value x) => Graph.DeclareShape(x, ElementType.Float, RwkvContract.BatchDim, PaddedDim, (long)_info.Embedding);

    // [B, T, C] → [B, T/L, H, L, N] (heads) or [B, T/L, L, C].
    private Value ToChunks(Value x, bool splitHeads) => splitHeads
        ? Graph.DeclareShape(Transpose(Reshape(x, 0, -1, WkvChunkLength, _info.Heads, _info.HeadSize), 0, 1, 3, 2, 4),
            ElementType.Float, RwkvContract.BatchDim, ChunksDim, (long)_info.Heads, (long)WkvChunkLength, (long)_info.HeadSize)
        : Graph.DeclareShape(Reshape(x, 0, -1, WkvChunkLength, _info.Embedding),
            ElementType.Float, RwkvContract.BatchDim, ChunksDim, (long)WkvChunkLength, (long)_info.Embedding);

    // The inverse of ToChunks: [B, T/L, H, L, N] or [B, T/L, L, C] → [B, T, C].
    private Value FromChunks(Value y, bool splitHeads) =>
        Reshape(splitHeads ? Transpose(y, 0, 1, 3, 2, 4) : y, 0, -1, _info.Embedding);

    /// <summary>
    /// d[t, s] = Σ_{s &lt; i &lt; t} logW[i] for s &lt; t, and 0 for s ≥ t: the log of the decay between key position s
    /// and query position t (exclusive of both) within a chunk. <paramref name="logW"/> is [..., L, N] with
    /// <paramref name="leading"/> leading axes; the result is [..., L(t), L(s), N]. Summed as a product with a 0/1
    /// mask, so each entry adds only its own same-signed terms (no difference of two long cumulative sums, which
    /// would lose the small exponents next to a tiny decay).
    /// </summary>
    public Value PairDecay(Value logW, int leading)
    {
        using IDisposable _ = Graph.Scope("pair_decay");
        int l = WkvChunkLength;
        Value before = Unsqueeze(Earlier(), 1);                                       // [t, 1, i]: i < t
        Value after = Unsqueeze(Trilu(Filled(1f, l), 1, upper: true), 0);           // [1, s, i]: i > s
        Value mask = Reshape(before * after, l * l, l);              // [(t, s), i]
        long[] shape = [.. Enumerable.Repeat(0L, leading), l, l, -1];
        return Reshape(MatMul(mask, logW), shape);
    }

    /// <summary>The [L, L] mask of s &lt; t: 1 where column s is strictly earlier than row t, else 0.</summary>
    public Value Earlier() => Trilu(Filled(1f, WkvChunkLength), -1, upper: false);

    /// <summary>The [n, n] identity matrix.</summary>
    public Value Identity(long n) => EyeLike(Filled(0f, n));

    // An [n, n] matrix of one value, expanded from a scalar (ONNX Runtime folds it at load; the graph stays small).
    private Value Filled(float value, long n) => Expand(Graph.Const(value), Graph.Int64s(n, n));

    /// <summary>(I − A)⁻¹ for a strictly lower-triangular [..., L, L] A.</summary>
    /// <remarks>
    /// Up to 16 rows as (I + A)(I + A²)(I + A⁴)⋯ (Aᴸ = 0); above, by halves: with M₁ = (I − A₁₁)⁻¹ and M₂ = (I − A₂₂)⁻¹,
    /// (I − A)⁻¹ = [M₁, 0; M₂A₂₁M₁, M₂]. The doubling alone at L = 32 sums powers up to A¹⁶ whose entries cancel: on the
    /// trained 7v0 fixture its state was 38× further from the step graph than at L = 16; by halves it is as close.
    /// </remarks>
    public Value InverseOfIdentityMinus(Value a) => InverseOfIdentityMinus(a, WkvChunkLength);

    private Value InverseOfIdentityMinus(Value a, int n)
    {
        if (n > 16)
        {
            using IDisposable halves = Graph.Scope($"inverse_{n}");
            int h = n / 2;
            Value top = Slice(a, 0, h, axis: -2), bottom = Slice(a, h, n, axis: -2);
            Value m1 = InverseOfIdentityMinus(Slice(top, 0, h, axis: -1), h);
            Value m2 = InverseOfIdentityMinus(Slice(bottom, h, n, axis: -1), h);
            Value m21 = MatMul(m2, MatMul(Slice(bottom, 0, h, axis: -1), m1));
            return Concat(-2, Concat(-1, m1, Zeros(m1)), Concat(-1, m21, m2));
        }
        using IDisposable _ = Graph.Scope("neumann");
        Value m = a + Identity(n), power = a;
        for (int k = 2; k < n; k *= 2)
        {
            power = MatMul(power, power);
            m = m + MatMul(m, power);
        }
        return m;
    }

    /// <summary>
    /// A[t, s] = Σ_j r[t, j] k[s, j] Γ_{t-1, j}/Γ_{s, j} for s &lt; t within a chunk, 0 for s ≥ t: the decayed attention
    /// of linear attention with per-channel decay. <paramref name="r"/>, <paramref name="k"/> and
    /// <paramref name="logW"/> are [B, T/L, H, L, N]; the result is [B, T/L, H, L, L].
    /// </summary>
    public Value DecayedScores(Value r, Value k, Value logW)
    {
        using IDisposable _ = Graph.Scope("decayed_scores");
        Value pairs = Unsqueeze(r, -2) * Unsqueeze(k, -3) * Exp(PairDecay(logW, leading: 3)); // [.., t, s, j]
        return Trilu(Squeeze(ReduceSumLastAxis(pairs), -1), -1, upper: false);
    }
}

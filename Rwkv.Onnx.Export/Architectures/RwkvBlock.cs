using Rwkv.Onnx;
using Rwkv.Onnx.Export.Graph;
using static Rwkv.Onnx.Export.Graph.Ops;

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>
/// One layer's view of the graph being built: its weights (<c>W("att.key.weight")</c> reads
/// <c>blocks.{i}.att.key.weight</c>), its state slots, and the helpers whose form depends on the graph
/// kind (token shift and recurrence). Each state slot must be written exactly once.
/// </summary>
internal sealed partial class RwkvBlock
{
    private const long ToEnd = long.MaxValue;
    private readonly Dictionary<string, Value> _past;
    private readonly Dictionary<string, Value> _present = new(StringComparer.Ordinal);
    private readonly RwkvArchitectureInfo _info;

    public RwkvBlock(OnnxGraph graph, GraphKind kind, int layer, RwkvArchitectureInfo info, Dictionary<string, Value> past, int wkvChunkLength = 0)
    {
        Graph = graph;
        Kind = kind;
        Layer = layer;
        _info = info;
        _past = past;
        WkvChunkLength = wkvChunkLength;
    }

    public OnnxGraph Graph { get; }

    public GraphKind Kind { get; }

    public int Layer { get; }

    /// <summary>Tokens per chunk L of the chunked-parallel recurrence; 0 runs the recurrence token by token.</summary>
    public int WkvChunkLength { get; }

    /// <summary>Whether the version should emit its recurrence in the chunked-parallel form (<see cref="ChunkedRecurrence"/>).</summary>
    public bool Chunked => Kind == GraphKind.Prefill && WkvChunkLength > 0;

    public IReadOnlyDictionary<string, Value> Present => _present;

    /// <summary>The prepared weight <c>blocks.{layer}.{name}</c>.</summary>
    public Value W(string name) => Graph.Weight($"blocks.{Layer}.{name}");

    /// <summary>y = x · W, with W stored pre-transposed as [in, out], or block-quantized (see <see cref="Ops.Linear"/>).</summary>
    public Value Linear(string name, Value x)
    {
        using IDisposable _ = Graph.Scope(name);
        return Ops.Linear(x, $"blocks.{Layer}.{name}.weight");
    }

    /// <summary>
    /// y = x · W for the LoRA factor <c>blocks.{layer}.{name}</c> (stored [in, out]): a MatMul with <see cref="W"/>, or
    /// ggml's arithmetic where the export emulates a ggml format that quantizes the factor (WeightSink.LoraFactor).
    /// </summary>
    public Value Lora(string name, Value x)
    {
        string weight = $"blocks.{Layer}.{name}";
        return Graph.TryGetGgmlEmulated(weight, out _) ? Ops.Linear(x, weight) : Ops.MatMul(x, W(name));
    }

    /// <summary>LayerNorm(x) · weight + bias over the model width.</summary>
    public Value LayerNorm(string name, Value x)
    {
        using IDisposable _ = Graph.Scope(name);
        return Ops.LayerNorm(x, W(name + ".weight"), W(name + ".bias"), _info.LayerNormEpsilon);
    }

    public Value Past(string slot) => _past[slot];

    public void Write(string slot, Value value)
    {
        if (!_past.ContainsKey(slot))
        {
            throw new InvalidOperationException($"Layer {Layer} writes state slot '{slot}', which the architecture does not declare.");
        }
        if (!_present.TryAdd(slot, value))
        {
            throw new InvalidOperationException($"Layer {Layer} writes state slot '{slot}' twice.");
        }
    }

    /// <summary>
    /// The previous token's x for every position: the state for the first, x[t-1] after it.
    /// Writes the last position's x as the new state.
    /// </summary>
    public Value TokenShift(string slot, Value x)
    {
        using IDisposable _ = Graph.Scope(slot);
        if (Kind == GraphKind.Step)
        {
            Write(slot, x);
            return Past(slot);
        }
        Write(slot, Squeeze(Slice(x, -1, ToEnd, axis: 1), 1));
        // Shapes named for ONNX Runtime's memory planner (see OnnxGraph.DeclareShape): T − 1 rows, then T again.
        Value earlier = Graph.DeclareShape(Slice(x, 0, -1, axis: 1), ElementType.Float, RwkvContract.BatchDim, ShiftedDim, (long)_info.Embedding);
        return Graph.DeclareShape(Concat(1, Unsqueeze(Past(slot), 1), earlier),
            ElementType.Float, RwkvContract.BatchDim, RwkvContract.SequenceDim, (long)_info.Embedding);
    }

    // T − 1, the rows a token shift keeps of a prefill's T.
    private const string ShiftedDim = "shifted";

    /// <summary>[..., C] to [..., H, N], keeping batch (and time) dimensions.</summary>
    public Value ToHeads(Value x) =>
        Kind == GraphKind.Step ? Reshape(x, 0, _info.Heads, _info.HeadSize) : Reshape(x, 0, 0, _info.Heads, _info.HeadSize);

    /// <summary>[..., H, N], or head rows or columns [..., H, ·, ·], back to [..., C].</summary>
    public Value FromHeads(Value x) => Kind == GraphKind.Step ? Reshape(x, 0, _info.Embedding) : Reshape(x, 0, 0, _info.Embedding);

    /// <summary>[..., C] (or any [..., H, ·, ·] of the same positions) to rows [..., H, 1, N], keeping batch (and time) dimensions.</summary>
    public Value HeadRows(Value x) => ToHeadLayout(x, 1, _info.HeadSize);

    /// <summary>[..., C] (or any [..., H, ·, ·] of the same positions) to columns [..., H, N, 1], keeping batch (and time) dimensions.</summary>
    public Value HeadColumns(Value x) => ToHeadLayout(x, _info.HeadSize, 1);

    private Value ToHeadLayout(Value x, long rows, long columns) =>
        Kind == GraphKind.Step ? Reshape(x, 0, _info.Heads, rows, columns) : Reshape(x, 0, 0, _info.Heads, rows, columns);

    /// <summary>The weight vector <c>blocks.{layer}.{name}</c> of C values as rows [H, 1, N] (a Reshape of an initializer, folded at load).</summary>
    public Value WRows(string name) => Reshape(W(name), _info.Heads, 1, _info.HeadSize);

    /// <summary>The weight vector <c>blocks.{layer}.{name}</c> of C values as columns [H, N, 1] (a Reshape of an initializer, folded at load).</summary>
    public Value WColumns(string name) => Reshape(W(name), _info.Heads, _info.HeadSize, 1);

    /// <summary>
    /// The token-shift mixes x + xx·(μᵢ + offsetᵢ) for the weight vectors μᵢ named <paramref name="names"/>.
    /// <paramref name="offsets"/>, if given, is [.., n·C] (a data-dependent addition to the μᵢ, side by side in the same order).
    /// Step graphs compute them side by side (see <see cref="SideBySide"/>): one Mul and Add over [.., n·C], then one Split
    /// back into n tensors shaped like x, as there the number of nodes costs more than their size. Prefill graphs, whose
    /// nodes each run over many tokens, compute each mix on its own and so never copy x and xx n times.
    /// </summary>
    public Value[] Mixes(Value x, Value xx, string[] names, Value? offsets = null)
    {
        using IDisposable _ = Graph.Scope("mix");
        if (Kind == GraphKind.Prefill)
        {
            Value[] parts = offsets is Value o ? Split(o, -1, names.Length) : [];
            return [.. names.Select((name, i) => x + xx * (offsets is null ? W(name) : W(name) + parts[i]))];
        }
        Value mu = WSideBySide(names);
        if (offsets is Value m)
        {
            mu = mu + m;
        }
        return Split(SideBySide(x, names.Length) + SideBySide(xx, names.Length) * mu, -1, names.Length);
    }

    /// <summary><paramref name="n"/> copies of x side by side along the last axis: [.., C] to [.., n·C] (one Concat).</summary>
    public static Value SideBySide(Value x, int n) => Concat(-1, [.. Enumerable.Repeat(x, n)]);

    /// <summary>The weight vectors named <paramref name="names"/> side by side, [n·C] (a Concat of initializers, folded at load).</summary>
    public Value WSideBySide(string[] names) => Concat(0, [.. names.Select(W)]);

    /// <summary>
    /// Per-head normalisation (group norm with H groups) of columns [..., H, N, 1], then the <paramref name="name"/> affine
    /// over C, staying in columns.
    /// </summary>
    public Value GroupNormHeadColumns(string name, Value columns, float epsilon)
    {
        using IDisposable _ = Graph.Scope(name);
        long n = _info.HeadSize;
        Value normalized = Ops.LayerNorm(columns, Graph.Const(1f, n, 1), Graph.Const(0f, n, 1), epsilon, axis: -2);
        return normalized * WColumns(name + ".weight") + WColumns(name + ".bias");
    }

    /// <summary>
    /// Per-head normalisation (group norm with H groups) of rows [..., H, 1, N], then the <paramref name="name"/> affine
    /// over C, staying in rows.
    /// </summary>
    public Value GroupNormHeadRows(string name, Value rows, float epsilon)
    {
        using IDisposable _ = Graph.Scope(name);
        long n = _info.HeadSize;
        Value normalized = Ops.LayerNorm(rows, Graph.Const(1f, n), Graph.Const(0f, n), epsilon);
        return normalized * WRows(name + ".weight") + WRows(name + ".bias");
    }

    /// <summary>x / max(‖x‖₂, 1e-12) along the last axis, for each head's row [..., H, 1, N] (torch's F.normalize).</summary>
    public Value L2NormalizeRows(Value rows) => rows / Max(ReduceL2LastAxis(rows), Graph.Const(1e-12f));

    /// <summary>
    /// Runs a per-token recurrence over the state slot <paramref name="slot"/> with inputs already per head in the
    /// layouts the body wants ([..., H, N, 1] columns, [..., H, 1, N] rows, reshaped once outside any loop): the body
    /// sees one token of each and returns (new state, output).
    /// See <see cref="Recurrence(string, string[], Value[], Func{Value[], Value[], ValueTuple{Value[], Value}}, bool)"/>.
    /// </summary>
    public Value Recurrence(string slot, Value[] inputs, Func<Value, Value[], (Value State, Value Output)> body) =>
        Recurrence(slot, [slot], inputs, (s, x) =>
        {
            (Value state, Value output) = body(s[0], x);
            return ([state], output);
        }, splitHeads: false);

    /// <summary>
    /// Runs a per-token recurrence named <paramref name="name"/> that carries the state slots
    /// <paramref name="slots"/>. Inputs are [..., C]; with <paramref name="splitHeads"/> they are split into
    /// heads, so the body sees [batch, H, N] per input, else [batch, C]. The body gets the carried states
    /// in slot order and one token of each input, and returns (new states in slot order, output).
    /// Step graphs emit the body inline; prefill graphs emit it once as a Scan body over T.
    /// </summary>
    public Value Recurrence(string name, string[] slots, Value[] inputs, Func<Value[], Value[], (Value[] States, Value Output)> body, bool splitHeads)
    {
        using IDisposable _ = Graph.Scope(name);
        Value[] xs = splitHeads ? inputs.Select(ToHeads).ToArray() : inputs;
        Value Merge(Value y) => splitHeads ? FromHeads(y) : y;
        if (Kind == GraphKind.Step)
        {
            (Value[] states, Value output) = body([.. slots.Select(Past)], xs);
            WriteAll(slots, states);
            return Merge(output);
        }
        OnnxGraph g = Graph.CreateSubgraph("scan_body");
        Value[] carried = [.. slots.Select(slot => g.BodyInput($"/blocks.{Layer}/{name}/{slot}_in", ElementType.Float))];
        Value[] tokens = [.. xs.Select((_, i) => g.BodyInput($"/blocks.{Layer}/{name}/x{i}_in", ElementType.Float))];
        (Value[] next, Value y) = body(carried, tokens);
        CheckCount(slots, next);
        for (int i = 0; i < slots.Length; i++)
        {
            g.BodyOutput(next[i], $"/blocks.{Layer}/{name}/{slots[i]}_out", ElementType.Float);
        }
        g.BodyOutput(y, $"/blocks.{Layer}/{name}/y_out", ElementType.Float);
        Value[] results = Scan([.. slots.Select(Past)], xs, g.Proto, scanOutputs: 1);
        WriteAll(slots, results[..slots.Length]);
        return Merge(results[^1]);
    }

    private void WriteAll(string[] slots, Value[] states)
    {
        CheckCount(slots, states);
        for (int i = 0; i < slots.Length; i++)
        {
            Write(slots[i], states[i]);
        }
    }

    private void CheckCount(string[] slots, Value[] states)
    {
        if (states.Length != slots.Length)
        {
            throw new InvalidOperationException($"Layer {Layer}: a recurrence over {slots.Length} state slot(s) returned {states.Length} state(s).");
        }
    }
}

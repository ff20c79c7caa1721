using Rwkv.Onnx;
using Rwkv.Onnx.Export.Graph;
using static Rwkv.Onnx.Export.Graph.Ops;

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>
/// One layer's view of the graph being built: its weights (<c>W("att.key.weight")</c> reads
/// <c>blocks.{i}.att.key.weight</c>), its state slots, and the helpers whose form depends on the graph
/// kind (token shift and recurrence). Each state slot must be written exactly once.
/// </summary>
internal sealed class RwkvBlock
{
    private const long ToEnd = long.MaxValue;
    private readonly Dictionary<string, Value> _past;
    private readonly Dictionary<string, Value> _present = new(StringComparer.Ordinal);
    private readonly RwkvArchitectureInfo _info;

    public RwkvBlock(OnnxGraph graph, GraphKind kind, int layer, RwkvArchitectureInfo info, Dictionary<string, Value> past)
    {
        Graph = graph;
        Kind = kind;
        Layer = layer;
        _info = info;
        _past = past;
    }

    public OnnxGraph Graph { get; }

    public GraphKind Kind { get; }

    public int Layer { get; }

    public IReadOnlyDictionary<string, Value> Present => _present;

    /// <summary>The prepared weight <c>blocks.{layer}.{name}</c>.</summary>
    public Value W(string name) => Graph.Weight($"blocks.{Layer}.{name}");

    /// <summary>y = x · W, with W stored pre-transposed as [in, out].</summary>
    public Value Linear(string name, Value x)
    {
        using IDisposable _ = Graph.Scope(name);
        return MatMul(x, W(name + ".weight"));
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
        return Concat(1, Unsqueeze(Past(slot), 1), Slice(x, 0, -1, axis: 1));
    }

    /// <summary>[..., C] to [..., H, N], keeping batch (and time) dimensions.</summary>
    public Value ToHeads(Value x) =>
        Kind == GraphKind.Step ? Reshape(x, 0, _info.Heads, _info.HeadSize) : Reshape(x, 0, 0, _info.Heads, _info.HeadSize);

    /// <summary>[..., H, N] back to [..., C].</summary>
    public Value FromHeads(Value x) => Kind == GraphKind.Step ? Reshape(x, 0, _info.Embedding) : Reshape(x, 0, 0, _info.Embedding);

    /// <summary>x / max(‖x‖₂, 1e-12) within each head (torch's F.normalize).</summary>
    public Value L2NormalizeHeads(Value x)
    {
        Value h = ToHeads(x);
        return FromHeads(h / Max(ReduceL2LastAxis(h), Graph.Const(1e-12f)));
    }

    /// <summary>Per-head normalisation (group norm with H groups), then the <paramref name="name"/> affine over C.</summary>
    public Value GroupNormHeads(string name, Value x, float epsilon)
    {
        using IDisposable _ = Graph.Scope(name);
        Value n = Ops.LayerNorm(ToHeads(x), Graph.Const(1f, _info.HeadSize), Graph.Const(0f, _info.HeadSize), epsilon);
        return FromHeads(n) * W(name + ".weight") + W(name + ".bias");
    }

    /// <summary>
    /// Runs a per-token recurrence over the state slot <paramref name="slot"/>. Inputs are [..., C] and are
    /// split into heads; the body sees one token ([batch, H, N] each) and returns (new state, output).
    /// Step graphs emit the body inline; prefill graphs emit it once as a Scan body over T.
    /// </summary>
    public Value Recurrence(string slot, Value[] inputs, Func<Value, Value[], (Value State, Value Output)> body)
    {
        using IDisposable _ = Graph.Scope(slot);
        Value[] heads = inputs.Select(ToHeads).ToArray();
        if (Kind == GraphKind.Step)
        {
            (Value state, Value output) = body(Past(slot), heads);
            Write(slot, state);
            return FromHeads(output);
        }
        OnnxGraph g = Graph.CreateSubgraph("scan_body");
        Value s = g.BodyInput($"/blocks.{Layer}/{slot}/state_in", ElementType.Float);
        Value[] xs = heads.Select((_, i) => g.BodyInput($"/blocks.{Layer}/{slot}/x{i}_in", ElementType.Float)).ToArray();
        (Value sNew, Value y) = body(s, xs);
        g.BodyOutput(sNew, $"/blocks.{Layer}/{slot}/state_out", ElementType.Float);
        g.BodyOutput(y, $"/blocks.{Layer}/{slot}/y_out", ElementType.Float);
        Value[] results = Scan([Past(slot)], heads, g.Proto, scanOutputs: 1);
        Write(slot, results[0]);
        return FromHeads(results[1]);
    }
}

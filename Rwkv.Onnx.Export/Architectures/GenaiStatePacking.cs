using Rwkv.Onnx.Export.Graph;
using static Rwkv.Onnx.Export.Graph.Ops;

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>
/// The graph I/O onnxruntime-genai drives: it manages exactly two recurrent tensors per layer, named
/// <c>past_key_values.{layer}.conv_state</c> / <c>recurrent_state</c> in and <c>present.{layer}.conv_state</c> /
/// <c>recurrent_state</c> out, with fixed shapes read from the graph inputs (only the batch is dynamic), zero initial
/// values, and the same buffer bound as input and output on the CPU. This adapter packs a version's state slots into
/// those two tensors around the unchanged architecture, so each version still reads like its equations:
/// <list type="bullet">
/// <item><c>conv_state</c> [batch, k, C]: the k token-shift slots (<c>att_shift</c>, <c>ffn_shift</c>) stacked on axis 1,
/// plus one "started" row when the matrix slot starts from a trained time state.</item>
/// <item><c>recurrent_state</c>: the one matrix slot as it is ([batch, H, N, N], RWKV-5/6/7), or the vector slots stacked
/// ([batch, 3, C] for RWKV-4's aa, bb, pp) plus one "started" row when a slot starts at a non-zero value.</item>
/// </list>
/// </summary>
/// <remarks>
/// Genai zero-initialises state, so a slot whose initial value is not 0 (RWKV-4's pp = −1e30) is read as
/// stored + (1 − started)·initial: the started row is 0 in genai's fresh state and the graph writes 1, so the first token
/// sees the true initial value and every later one the stored value exactly (nothing is added to it). A trained time state
/// (RWKV-PEFT state tuning, <see cref="Genai.GenaiTimeState"/>) is read the same way: wkv = stored + (1 − started)·time_state,
/// with the started row in conv_state, since the matrix tensor has no row to spare. Because genai binds
/// one buffer as both past and present, each packed input is read by exactly one Split (a copy) that every present value
/// depends on, so no output can overwrite the input while another node still reads it.
/// </remarks>
internal sealed class GenaiStatePacking
{
    /// <summary>Genai's name template suffix of the token-shift tensor.</summary>
    public const string ConvState = "conv_state";

    /// <summary>Genai's name template suffix of the WKV tensor.</summary>
    public const string RecurrentState = "recurrent_state";

    /// <summary>The graph input of <paramref name="tensor"/> (conv_state or recurrent_state) of <paramref name="layer"/>.</summary>
    public static string PastName(string tensor, int layer) => $"past_key_values.{layer}.{tensor}";

    /// <summary>The graph output of <paramref name="tensor"/> (conv_state or recurrent_state) of <paramref name="layer"/>.</summary>
    public static string PresentName(string tensor, int layer) => $"present.{layer}.{tensor}";

    private readonly PackedTensor _conv;
    private readonly PackedTensor _recurrent;
    private readonly bool _timeState;

    /// <summary>Packs <paramref name="slots"/> of <paramref name="width"/> channels.</summary>
    /// <param name="slots">The architecture's state slots.</param>
    /// <param name="width">The embedding width C.</param>
    /// <param name="timeState">
    /// The matrix slot starts from the weights <see cref="Genai.GenaiTimeState.WeightName"/> (one per layer) instead of 0.
    /// </param>
    public GenaiStatePacking(IReadOnlyList<StateSlot> slots, int width, bool timeState = false)
    {
        StateSlot[] shifts = [.. slots.Where(s => s.Name.EndsWith("_shift", StringComparison.Ordinal))];
        StateSlot[] rest = [.. slots.Except(shifts)];
        if (shifts.Length == 0 || rest.Length == 0 || shifts.Any(s => s.Shape.Length != 1 || s.Initial != 0f))
        {
            throw new InvalidOperationException($"State slots {string.Join(", ", slots.Select(s => s.Name))} do not pack into genai's conv and recurrent tensors.");
        }
        if (timeState && rest is not [{ Shape.Length: 3, TimeState: not null }])
        {
            throw new InvalidOperationException($"State slots {string.Join(", ", rest.Select(s => s.Name))} have no matrix a time state fills.");
        }
        _timeState = timeState;
        _conv = new PackedTensor(ConvState, shifts, Stacked: true, Started: timeState, [shifts.Length + (timeState ? 1 : 0), width]);
        if (rest is [{ Shape.Length: 3 } matrix])
        {
            if (matrix.Initial != 0f)
            {
                throw new InvalidOperationException($"Matrix state slot '{matrix.Name}' starts at {matrix.Initial}; genai starts it at 0.");
            }
            _recurrent = new PackedTensor(RecurrentState, rest, Stacked: false, Started: false, matrix.Shape);
        }
        else if (rest.All(s => s.Shape.Length == 1))
        {
            bool started = rest.Any(s => s.Initial != 0f);
            _recurrent = new PackedTensor(RecurrentState, rest, Stacked: true, started, [rest.Length + (started ? 1 : 0), width]);
        }
        else
        {
            throw new InvalidOperationException($"State slots {string.Join(", ", rest.Select(s => s.Name))} mix vectors and matrices; genai's recurrent tensor holds one kind.");
        }
    }

    /// <summary>The per-sequence shapes (without the batch) of conv_state and recurrent_state.</summary>
    public (int[] Conv, int[] Recurrent) Shapes => (_conv.Shape, _recurrent.Shape);

    /// <summary>Declares layer <paramref name="layer"/>'s two packed inputs and returns each slot's past value, by name.</summary>
    public Dictionary<string, Value> DeclarePast(OnnxGraph g, int layer)
    {
        var past = new Dictionary<string, Value>(StringComparer.Ordinal);
        Value started = default; // conv_state's started row, [batch, C], when a time state needs it
        foreach (PackedTensor tensor in new[] { _conv, _recurrent })
        {
            Value packed = g.Input(PastName(tensor.Name, layer), ElementType.Float, Dims(tensor));
            using IDisposable _ = g.Scope($"blocks.{layer}/genai/{tensor.Name}");
            if (!tensor.Stacked)
            {
                Value stored = Split(packed, 1, 1)[0]; // a copy: see the remarks on aliasing
                if (_timeState)
                {
                    // stored + (1 − started)·time_state, with started [batch, 1, 1, 1] from any channel of the row.
                    Value fresh = g.Const(1f) - Unsqueeze(Slice(started, 0, 1, axis: 1), 2, 3);
                    stored = stored + (fresh * g.Weight(Genai.GenaiTimeState.WeightName(layer)));
                }
                past[tensor.Slots[0].Name] = stored;
                continue;
            }
            int rows = tensor.Slots.Length + (tensor.Started ? 1 : 0);
            Value[] parts = [.. Split(packed, 1, rows).Select(p => Squeeze(p, 1))];
            started = tensor.Started ? parts[^1] : default;
            foreach ((StateSlot slot, int i) in tensor.Slots.Select((s, i) => (s, i)))
            {
                // stored + (1 − started)·initial: exactly the stored value once started, the initial value in a fresh state.
                past[slot.Name] = slot.Initial == 0f ? parts[i] : parts[i] + (g.Const(1f) - parts[^1]) * slot.Initial;
            }
        }
        return past;
    }

    /// <summary>Declares layer <paramref name="layer"/>'s two packed outputs from each slot's present value.</summary>
    public void DeclarePresent(OnnxGraph g, int layer, IReadOnlyDictionary<string, Value> present)
    {
        foreach (PackedTensor tensor in new[] { _conv, _recurrent })
        {
            Value packed;
            using (g.Scope($"blocks.{layer}/genai/{tensor.Name}"))
            {
                if (!tensor.Stacked)
                {
                    packed = present[tensor.Slots[0].Name];
                }
                else
                {
                    Value[] rows = [.. tensor.Slots.Select(s => Unsqueeze(present[s.Name], 1))];
                    if (tensor.Started)
                    {
                        rows = [.. rows, Expand(g.Const(1f, 1, 1, 1), Shape(rows[0]))];
                    }
                    packed = Concat(1, rows);
                }
            }
            g.Output(packed, PresentName(tensor.Name, layer), ElementType.Float, Dims(tensor));
        }
    }

    private static object[] Dims(PackedTensor tensor) => [RwkvContract.BatchDim, .. tensor.Shape.Select(d => (object)(long)d)];

    private sealed record PackedTensor(string Name, StateSlot[] Slots, bool Stacked, bool Started, int[] Shape);
}

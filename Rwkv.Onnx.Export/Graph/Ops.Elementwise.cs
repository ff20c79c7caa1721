namespace Rwkv.Onnx.Export.Graph;

/// <summary>
/// One method per ONNX operator; each emits exactly one node unless its comment says otherwise. Binary ops are
/// emitted in the innermost graph of their operands, so a loop body may combine its values with outer weights.
/// </summary>
internal static partial class Ops
{
    /// <summary>Add (opset 14).</summary>
    public static Value Add(Value a, Value b) => OnnxGraph.Innermost(a, b).Node("Add", [a, b]);

    /// <summary>Sub (opset 14).</summary>
    public static Value Sub(Value a, Value b) => OnnxGraph.Innermost(a, b).Node("Sub", [a, b]);

    /// <summary>Mul (opset 14).</summary>
    public static Value Mul(Value a, Value b) => OnnxGraph.Innermost(a, b).Node("Mul", [a, b]);

    /// <summary>Div (opset 14).</summary>
    public static Value Div(Value a, Value b) => OnnxGraph.Innermost(a, b).Node("Div", [a, b]);

    /// <summary>Neg (opset 13).</summary>
    public static Value Neg(Value x) => x.Graph.Node("Neg", [x]);

    /// <summary>Abs (opset 13).</summary>
    public static Value Abs(Value x) => x.Graph.Node("Abs", [x]);

    /// <summary>Round (opset 11): to the nearest integer, halves to even.</summary>
    public static Value Round(Value x) => x.Graph.Node("Round", [x]);

    /// <summary>Exp (opset 13).</summary>
    public static Value Exp(Value x) => x.Graph.Node("Exp", [x]);

    /// <summary>Sigmoid (opset 13).</summary>
    public static Value Sigmoid(Value x) => x.Graph.Node("Sigmoid", [x]);

    /// <summary>Tanh (opset 13).</summary>
    public static Value Tanh(Value x) => x.Graph.Node("Tanh", [x]);

    /// <summary>Relu (opset 14).</summary>
    public static Value Relu(Value x) => x.Graph.Node("Relu", [x]);

    /// <summary>Max of two tensors, broadcasting (opset 13).</summary>
    public static Value Max(Value a, Value b) => OnnxGraph.Innermost(a, b).Node("Max", [a, b]);

    /// <summary>Cast (opset 13).</summary>
    public static Value Cast(Value x, ElementType to) => x.Graph.Node("Cast", [x], [Attr.Int("to", (long)to)]);

    /// <summary>Min of two tensors, broadcasting (opset 13).</summary>
    public static Value Min(Value a, Value b) => OnnxGraph.Innermost(a, b).Node("Min", [a, b]);

    /// <summary>Log (opset 13).</summary>
    public static Value Log(Value x) => x.Graph.Node("Log", [x]);

    /// <summary>
    /// CumSum (opset 14) along <paramref name="axis"/>: y[t] = Σ x[i] over i ≤ t, or i &lt; t when <paramref name="exclusive"/>,
    /// or i ≥ t / i &gt; t when <paramref name="reverse"/>.
    /// </summary>
    public static Value CumSum(Value x, long axis, bool exclusive = false, bool reverse = false) =>
        x.Graph.Node("CumSum", [x, x.Graph.Int64(axis)], [Attr.Int("exclusive", exclusive ? 1 : 0), Attr.Int("reverse", reverse ? 1 : 0)]);

    /// <summary>LessOrEqual (opset 16), broadcasting: a boolean tensor, for <see cref="Where"/>.</summary>
    public static Value LessOrEqual(Value a, Value b) => OnnxGraph.Innermost(a, b).Node("LessOrEqual", [a, b]);

    /// <summary>Where (opset 16), broadcasting: <paramref name="whenTrue"/> where <paramref name="condition"/> holds, else <paramref name="whenFalse"/>.</summary>
    public static Value Where(Value condition, Value whenTrue, Value whenFalse) => condition.Graph.Node("Where", [condition, whenTrue, whenFalse]);

    /// <summary>Softmax (opset 13) over <paramref name="axis"/>.</summary>
    public static Value Softmax(Value x, long axis) => x.Graph.Node("Softmax", [x], [Attr.Int("axis", axis)]);
}

namespace Rwkv.Onnx.Export.Graph;

internal static partial class Ops
{
    /// <summary>LayerNormalization (opset 17) over the axes from <paramref name="axis"/> to the last (by default the last alone).</summary>
    public static Value LayerNorm(Value x, Value scale, Value bias, float epsilon, long axis = -1) =>
        x.Graph.Node("LayerNormalization", [x, scale, bias], [Attr.Int("axis", axis), Attr.Float("epsilon", epsilon)]);

    /// <summary>ReduceL2 over the last axis, keeping it (axes are an attribute before opset 18, an input from 18).</summary>
    public static Value ReduceL2LastAxis(Value x) => Reduce("ReduceL2", x);

    /// <summary>ReduceSum over the last axis, keeping it (axes input since opset 13).</summary>
    public static Value ReduceSumLastAxis(Value x) => x.Graph.Node("ReduceSum", [x, x.Graph.Int64s(-1)], [Attr.Int("keepdims", 1)]);

    /// <summary>ReduceSum over <paramref name="axis"/>, keeping it (axes input since opset 13).</summary>
    public static Value ReduceSum(Value x, long axis) => x.Graph.Node("ReduceSum", [x, x.Graph.Int64s(axis)], [Attr.Int("keepdims", 1)]);

    /// <summary>ReduceMax over <paramref name="axis"/>, keeping it (axes are an attribute before opset 18, an input from 18).</summary>
    public static Value ReduceMax(Value x, long axis) => Reduce("ReduceMax", x, axis);

    private static Value Reduce(string op, Value x, long axis = -1) => x.Graph.Opset >= 18
        ? x.Graph.Node(op, [x, x.Graph.Int64s(axis)], [Attr.Int("keepdims", 1)])
        : x.Graph.Node(op, [x], [Attr.Ints("axes", axis), Attr.Int("keepdims", 1)]);
}

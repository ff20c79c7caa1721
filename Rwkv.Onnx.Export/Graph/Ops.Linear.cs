namespace Rwkv.Onnx.Export.Graph;

internal static partial class Ops
{
    /// <summary>MatMul (opset 13): numpy matmul, batched over leading dimensions.</summary>
    public static Value MatMul(Value a, Value b) => OnnxGraph.Innermost(a, b).Node("MatMul", [a, b]);

    /// <summary>Gather (opset 13) of rows of <paramref name="table"/> by <paramref name="indices"/>.</summary>
    public static Value Gather(Value table, Value indices) => table.Graph.Node("Gather", [table, indices], [Attr.Int("axis", 0)]);
}

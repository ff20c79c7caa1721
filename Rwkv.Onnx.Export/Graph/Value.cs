namespace Rwkv.Onnx.Export.Graph;

/// <summary>
/// A handle to a value in an <see cref="OnnxGraph"/>. Its operators emit ONNX nodes, so
/// architecture code reads as equations: <c>x + (xx - x) * mu</c> emits Sub, Mul, Add.
/// </summary>
internal readonly record struct Value(OnnxGraph Graph, string Name)
{
    public static Value operator +(Value a, Value b) => Ops.Add(a, b);
    public static Value operator -(Value a, Value b) => Ops.Sub(a, b);
    public static Value operator *(Value a, Value b) => Ops.Mul(a, b);
    public static Value operator /(Value a, Value b) => Ops.Div(a, b);
    public static Value operator -(Value a) => Ops.Neg(a);

    public static Value operator +(Value a, float b) => Ops.Add(a, a.Graph.Const(b));
    public static Value operator -(Value a, float b) => Ops.Sub(a, a.Graph.Const(b));
    public static Value operator *(Value a, float b) => Ops.Mul(a, a.Graph.Const(b));
    public static Value operator /(Value a, float b) => Ops.Div(a, a.Graph.Const(b));
    public static Value operator +(float a, Value b) => Ops.Add(b.Graph.Const(a), b);
    public static Value operator -(float a, Value b) => Ops.Sub(b.Graph.Const(a), b);
    public static Value operator *(float a, Value b) => Ops.Mul(b.Graph.Const(a), b);

    public override string ToString() => Name;
}

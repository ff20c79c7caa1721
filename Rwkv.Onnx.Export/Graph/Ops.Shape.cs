namespace Rwkv.Onnx.Export.Graph;

internal static partial class Ops
{
    /// <summary>Reshape (opset 14); 0 copies the input dimension, -1 is inferred.</summary>
    public static Value Reshape(Value x, Value shape) => x.Graph.Node("Reshape", [x, shape]);

    /// <summary>Reshape to constant dimensions.</summary>
    public static Value Reshape(Value x, params long[] shape) => Reshape(x, x.Graph.Int64s(shape));

    /// <summary>Shape (opset 15).</summary>
    public static Value Shape(Value x) => x.Graph.Node("Shape", [x]);

    /// <summary>Transpose (opset 13): output axis i is input axis <paramref name="perm"/>[i].</summary>
    public static Value Transpose(Value x, params long[] perm) => x.Graph.Node("Transpose", [x], [Attr.Ints("perm", perm)]);

    /// <summary>Concat along <paramref name="axis"/> (opset 13).</summary>
    public static Value Concat(long axis, params Value[] values) => values[0].Graph.Node("Concat", values, [Attr.Int("axis", axis)]);

    /// <summary>Slice (opset 13) along one axis, <c>[start, end)</c>, with start/end given as 1-D int64 values.</summary>
    public static Value Slice(Value x, Value starts, Value ends, long axis) =>
        x.Graph.Node("Slice", [x, starts, ends, x.Graph.Int64s(axis)]);

    /// <summary>Slice (opset 13) along one axis with constant bounds.</summary>
    public static Value Slice(Value x, long start, long end, long axis) => Slice(x, x.Graph.Int64s(start), x.Graph.Int64s(end), axis);

    /// <summary>Unsqueeze (opset 13, axes as an input).</summary>
    public static Value Unsqueeze(Value x, params long[] axes) => x.Graph.Node("Unsqueeze", [x, x.Graph.Int64s(axes)]);

    /// <summary>Squeeze (opset 13, axes as an input).</summary>
    public static Value Squeeze(Value x, params long[] axes) => x.Graph.Node("Squeeze", [x, x.Graph.Int64s(axes)]);
}

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

    /// <summary>Split (opset 13; from opset 18 the number of outputs is an attribute) of <paramref name="x"/> into <paramref name="count"/> equal parts along <paramref name="axis"/>.</summary>
    public static Value[] Split(Value x, long axis, int count) => x.Graph.Opset >= 18
        ? x.Graph.Node("Split", [x], count, [Attr.Int("axis", axis), Attr.Int("num_outputs", count)])
        : x.Graph.Node("Split", [x], count, [Attr.Int("axis", axis)]);

    /// <summary>Slice (opset 13) along one axis, <c>[start, end)</c>, with start/end given as 1-D int64 values.</summary>
    public static Value Slice(Value x, Value starts, Value ends, long axis) =>
        x.Graph.Node("Slice", [x, starts, ends, x.Graph.Int64s(axis)]);

    /// <summary>Slice (opset 13) along one axis with constant bounds.</summary>
    public static Value Slice(Value x, long start, long end, long axis) => Slice(x, x.Graph.Int64s(start), x.Graph.Int64s(end), axis);

    /// <summary>Unsqueeze (opset 13, axes as an input).</summary>
    public static Value Unsqueeze(Value x, params long[] axes) => x.Graph.Node("Unsqueeze", [x, x.Graph.Int64s(axes)]);

    /// <summary>Squeeze (opset 13, axes as an input).</summary>
    public static Value Squeeze(Value x, params long[] axes) => x.Graph.Node("Squeeze", [x, x.Graph.Int64s(axes)]);

    /// <summary>Trilu (opset 14): the lower (<paramref name="upper"/> false) or upper triangle of the last two axes from diagonal <paramref name="k"/>, zeros elsewhere.</summary>
    public static Value Trilu(Value x, long k, bool upper) => x.Graph.Node("Trilu", [x, x.Graph.Int64(k)], [Attr.Int("upper", upper ? 1 : 0)]);

    /// <summary>Pad (opset 13) with the constant <paramref name="value"/>; <paramref name="pads"/> is [begin of each axis, end of each axis].</summary>
    public static Value Pad(Value x, Value pads, Value value) => x.Graph.Node("Pad", [x, pads, value], [Attr.String("mode", "constant")]);

    /// <summary>Expand (opset 13): broadcast <paramref name="x"/> to <paramref name="shape"/>.</summary>
    public static Value Expand(Value x, Value shape) => x.Graph.Node("Expand", [x, shape]);

    /// <summary>ConstantOfShape (opset 9) of <paramref name="x"/>'s shape: float32 zeros.</summary>
    public static Value Zeros(Value x) => x.Graph.Node("ConstantOfShape", [Shape(x)]);

    /// <summary>EyeLike (opset 9): the identity matrix of <paramref name="x"/>'s 2-D shape and type.</summary>
    public static Value EyeLike(Value x) => x.Graph.Node("EyeLike", [x]);

    /// <summary>Gather (opset 13) of one element along axis 0 of a 1-D tensor, as a 1-D tensor of length one (e.g. a dimension of <see cref="Shape"/>).</summary>
    public static Value Dim(Value shape, long axis) => shape.Graph.Node("Gather", [shape, shape.Graph.Int64s(axis)], [Attr.Int("axis", 0)]);

    /// <summary>Transpose (opset 13) of the last two axes of a rank-<paramref name="rank"/> tensor (a batched matrix transpose).</summary>
    public static Value TransposeLastTwo(Value x, int rank) =>
        Transpose(x, [.. Enumerable.Range(0, rank - 2).Select(i => (long)i), rank - 1, rank - 2]);

    /// <summary>Range (opset 11): start, start + delta, ... below <paramref name="limit"/>; the three are scalars of one type.</summary>
    public static Value Range(Value start, Value limit, Value delta) => start.Graph.Node("Range", [start, limit, delta]);

    /// <summary>
    /// ScatterND (opset 13, no reduction): a copy of <paramref name="data"/> whose slices at <paramref name="indices"/>
    /// (int64, last axis a prefix of data's index) are replaced by <paramref name="updates"/>.
    /// </summary>
    public static Value ScatterND(Value data, Value indices, Value updates) => data.Graph.Node("ScatterND", [data, indices, updates]);
}

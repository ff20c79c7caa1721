namespace Rwkv.Onnx.Export.Graph;

internal static partial class Ops
{
    /// <summary>ONNX Runtime's contrib operator domain.</summary>
    public const string MicrosoftDomain = "com.microsoft";

    /// <summary>MatMul (opset 13): numpy matmul, batched over leading dimensions.</summary>
    public static Value MatMul(Value a, Value b) => OnnxGraph.Innermost(a, b).Node("MatMul", [a, b]);

    /// <summary>
    /// MatMulNBits (com.microsoft, version 1): a · dequant(B)ᵀ over the last axis of <paramref name="a"/>, with B
    /// block-quantized along K and the default zero point 2^(bits−1).
    /// </summary>
    public static Value MatMulNBits(Value a, Value codes, Value scales, QuantizedWeight q) =>
        a.Graph.DomainNode(MicrosoftDomain, "MatMulNBits", [a, codes, scales],
            [Attr.Int("K", q.K), Attr.Int("N", q.N), Attr.Int("bits", q.Bits), Attr.Int("block_size", q.BlockSize)]);

    /// <summary>y = x · W: a float MatMul, or MatMulNBits when the export stored the weight <paramref name="weight"/> block-quantized.</summary>
    public static Value Linear(Value x, string weight) =>
        x.Graph.TryGetQuantized(weight, out QuantizedWeight q)
            ? MatMulNBits(x, x.Graph.Weight(q.CodesName), x.Graph.Weight(q.ScalesName), q)
            : MatMul(x, x.Graph.Weight(weight));

    /// <summary>Gather (opset 13) of rows of <paramref name="table"/> by <paramref name="indices"/>.</summary>
    public static Value Gather(Value table, Value indices) => table.Graph.Node("Gather", [table, indices], [Attr.Int("axis", 0)]);
}

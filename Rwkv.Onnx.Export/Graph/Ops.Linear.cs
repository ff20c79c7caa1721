namespace Rwkv.Onnx.Export.Graph;

internal static partial class Ops
{
    /// <summary>ONNX Runtime's contrib operator domain.</summary>
    public const string MicrosoftDomain = "com.microsoft";

    /// <summary>MatMul (opset 13): numpy matmul, batched over leading dimensions.</summary>
    public static Value MatMul(Value a, Value b) => OnnxGraph.Innermost(a, b).Node("MatMul", [a, b]);

    /// <summary>
    /// MatMulNBits (com.microsoft, version 1): a · dequant(B)ᵀ over the last axis of <paramref name="a"/>, with B
    /// block-quantized along K and the default zero point 2^(bits−1) unless <paramref name="zeroPoints"/> gives one per
    /// block; accuracy_level picks the arithmetic.
    /// </summary>
    public static Value MatMulNBits(Value a, Value codes, Value scales, Value? zeroPoints, QuantizedWeight q) =>
        a.Graph.DomainNode(MicrosoftDomain, "MatMulNBits", zeroPoints is { } z ? [a, codes, scales, z] : [a, codes, scales],
            [Attr.Int("K", q.K), Attr.Int("N", q.N), Attr.Int("bits", q.Bits), Attr.Int("block_size", q.BlockSize), Attr.Int("accuracy_level", q.AccuracyLevel)]);

    /// <summary>
    /// y = x · W in the precision the export stored W in: MatMulNBits for a block-quantized weight; for a float16
    /// weight, a float16 MatMul between casts (float16 GEMMs on GPUs; the CPU provider removes the casts and computes in
    /// float32, as measured in ACCURACY.md); for a weight that emulates a ggml format, ggml's arithmetic
    /// (<see cref="GgmlLinear"/>); else a float32 MatMul. x and y are float32.
    /// </summary>
    public static Value Linear(Value x, string weight)
    {
        OnnxGraph g = x.Graph;
        if (g.TryGetQuantized(weight, out QuantizedWeight q))
        {
            return MatMulNBits(x, g.Weight(q.CodesName), g.Weight(q.ScalesName), q.ZeroPointsName is { } z ? g.Weight(z) : null, q);
        }
        if (g.TryGetGgmlEmulated(weight, out GgmlEmulatedWeight e))
        {
            return GgmlLinear(x, g.Weight(weight), e.MinimumsName is { } m ? g.Weight(m) : null, e.K);
        }
        Value w = g.StoredWeight(weight, out ElementType type);
        return type == ElementType.Float16
            ? Cast(MatMul(Cast(x, ElementType.Float16), w), ElementType.Float)
            : MatMul(x, w);
    }

    /// <summary>Gather (opset 13) of rows of <paramref name="table"/> by <paramref name="indices"/>.</summary>
    public static Value Gather(Value table, Value indices) => table.Graph.Node("Gather", [table, indices], [Attr.Int("axis", 0)]);

    /// <summary>
    /// Rows of the weight <paramref name="table"/> by <paramref name="indices"/>, as float32: a float16 table is
    /// gathered as stored and only the rows are cast, so it stays float16 in memory.
    /// </summary>
    public static Value Embedding(OnnxGraph g, string table, Value indices)
    {
        Value w = g.StoredWeight(table, out ElementType type);
        Value rows = Gather(w, indices);
        return type == ElementType.Float16 ? Cast(rows, ElementType.Float) : rows;
    }
}

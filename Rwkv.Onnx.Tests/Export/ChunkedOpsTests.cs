using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Rwkv.Onnx.Export.Architectures;
using Rwkv.Onnx.Export.Graph;
using static Rwkv.Onnx.Export.Graph.Ops;

namespace Rwkv.Onnx.Tests.Export;

/// <summary>The ops and helpers of the chunked-parallel recurrence, run through ONNX Runtime against hand values.</summary>
[TestFixture]
public sealed class ChunkedOpsTests
{
    private const int L = 4;

    [TestCase(17)]
    [TestCase(18)]
    public void ScanAndMaskOps_MatchHandValues(int opset)
    {
        var g = new OnnxGraph("t", opset, null);
        Value x = g.Input("x", ElementType.Float, 1, 4);
        g.Output(CumSum(x, -1), "inclusive", ElementType.Float, 1, 4);
        g.Output(CumSum(x, -1, exclusive: true), "exclusive", ElementType.Float, 1, 4);
        g.Output(CumSum(x, -1, exclusive: true, reverse: true), "after", ElementType.Float, 1, 4);
        g.Output(ReduceMax(Reshape(x, 2, 2), 0), "max", ElementType.Float, 1, 2);
        g.Output(ReduceSum(Reshape(x, 2, 2), 0), "sum", ElementType.Float, 1, 2);
        g.Output(Min(x, g.Const(2f)), "min", ElementType.Float, 1, 4);
        g.Output(Log(Exp(x)), "log", ElementType.Float, 1, 4);
        g.Output(Trilu(g.Const(1f, 3, 3), -1, upper: false), "lower", ElementType.Float, 3, 3);
        g.Output(Trilu(g.Const(1f, 3, 3), 1, upper: true), "upper", ElementType.Float, 3, 3);
        g.Output(EyeLike(g.Const(0f, 2, 2)), "eye", ElementType.Float, 2, 2);
        g.Output(TransposeLastTwo(Reshape(x, 1, 2, 2), 3), "transposed", ElementType.Float, 1, 2, 2);
        g.Output(Pad(x, g.Int64s(0, 1, 0, 2), g.Const(-5f)), "padded", ElementType.Float, 1, 7);
        g.Output(Expand(Reshape(x, 1, 1, 4), g.Int64s(2, 1, 4)), "expanded", ElementType.Float, 2, 1, 4);

        Dictionary<string, float[]> y = Run(g, ("x", [1, 2, 3, 4], [1, 4]));

        Assert.Multiple(() =>
        {
            Assert.That(y["inclusive"], Is.EqualTo(new float[] { 1, 3, 6, 10 }));
            Assert.That(y["exclusive"], Is.EqualTo(new float[] { 0, 1, 3, 6 }));
            Assert.That(y["after"], Is.EqualTo(new float[] { 9, 7, 4, 0 }));
            Assert.That(y["max"], Is.EqualTo(new float[] { 3, 4 }));
            Assert.That(y["sum"], Is.EqualTo(new float[] { 4, 6 }));
            Assert.That(y["min"], Is.EqualTo(new float[] { 1, 2, 2, 2 }));
            Assert.That(y["log"], Is.EqualTo(new float[] { 1, 2, 3, 4 }).Within(1e-6f));
            Assert.That(y["lower"], Is.EqualTo(new float[] { 0, 0, 0, 1, 0, 0, 1, 1, 0 }));
            Assert.That(y["upper"], Is.EqualTo(new float[] { 0, 1, 1, 0, 0, 1, 0, 0, 0 }));
            Assert.That(y["eye"], Is.EqualTo(new float[] { 1, 0, 0, 1 }));
            Assert.That(y["transposed"], Is.EqualTo(new float[] { 1, 3, 2, 4 }));
            Assert.That(y["padded"], Is.EqualTo(new float[] { -5, 1, 2, 3, 4, -5, -5 }));
            Assert.That(y["expanded"], Is.EqualTo(new float[] { 1, 2, 3, 4, 1, 2, 3, 4 }));
        });
    }

    [Test]
    public void PairDecay_SumsTheLogDecaysStrictlyBetweenKeyAndQuery()
    {
        var g = new OnnxGraph("t", 17, null);
        Value logW = g.Input("w", ElementType.Float, 1, L, 1);
        g.Output(Block(g).PairDecay(logW, leading: 1), "d", ElementType.Float, 1, L, L, 1);
        float[] w = [-1, -2, -4, -8];

        float[] d = Run(g, ("w", w, [1, L, 1]))["d"];

        for (int t = 0; t < L; t++)
        {
            for (int s = 0; s < L; s++)
            {
                float expected = s < t ? w[(s + 1)..t].Sum() : 0;
                Assert.That(d[(t * L) + s], Is.EqualTo(expected), $"d[{t}, {s}]");
            }
        }
    }

    [Test]
    public void InverseOfIdentityMinus_InvertsAStrictlyLowerMatrix()
    {
        var g = new OnnxGraph("t", 17, null);
        Value a = g.Input("a", ElementType.Float, L, L);
        g.Output(Block(g).InverseOfIdentityMinus(a), "m", ElementType.Float, L, L);
        var random = new Random(1);
        float[] lower = new float[L * L];
        for (int t = 0; t < L; t++)
        {
            for (int s = 0; s < t; s++)
            {
                lower[(t * L) + s] = (float)((random.NextDouble() * 2) - 1);
            }
        }

        float[] m = Run(g, ("a", lower, [L, L]))["m"];

        for (int i = 0; i < L; i++)
        {
            for (int j = 0; j < L; j++)
            {
                // ((I − A) M)[i, j] = M[i, j] − Σ_k A[i, k] M[k, j] must be the identity.
                float product = m[(i * L) + j] - Enumerable.Range(0, L).Sum(k => lower[(i * L) + k] * m[(k * L) + j]);
                Assert.That(product, Is.EqualTo(i == j ? 1f : 0f).Within(1e-6f), $"((I − A) M)[{i}, {j}]");
            }
        }
    }

    private static RwkvBlock Block(OnnxGraph g) => new(g, GraphKind.Prefill, 0, new RwkvArchitectureInfo
    {
        Version = "7",
        Layers = 1,
        Embedding = 4,
        Heads = 1,
        HeadSize = 4,
        Vocab = 1,
        FfnSize = 1,
        Parameters = 0,
        LayerNormEpsilon = 1e-5f,
        GroupNormEpsilon = 1e-5f,
    }, [], wkvChunkLength: L);

    private static Dictionary<string, float[]> Run(OnnxGraph g, params (string Name, float[] Values, int[] Shape)[] inputs)
    {
        string path = Path.Combine(TestContext.CurrentContext.WorkDirectory, $"{Guid.NewGuid():N}.onnx");
        OnnxModelWriter.Write(g, path, new Dictionary<string, string>());
        try
        {
            using var session = new InferenceSession(path);
            using IDisposableReadOnlyCollection<DisposableNamedOnnxValue> results =
                session.Run([.. inputs.Select(i => NamedOnnxValue.CreateFromTensor(i.Name, new DenseTensor<float>(i.Values, i.Shape)))]);
            return results.ToDictionary(r => r.Name, r => r.AsTensor<float>().ToArray());
        }
        finally
        {
            File.Delete(path);
        }
    }
}

using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Rwkv.Onnx.Export.Graph;
using Rwkv.Onnx.Export.Proto;
using static Rwkv.Onnx.Export.Graph.Ops;

namespace Rwkv.Onnx.Tests.Export;

[TestFixture]
public sealed class OnnxGraphTests
{
    [Test]
    public void Node_NamesCarryScopeAndAreUnique()
    {
        var g = new OnnxGraph("t", 17, null);
        Value x = g.Input("x", ElementType.Float, 2);
        using (g.Scope("blocks.3"))
        using (g.Scope("att"))
        {
            Value y = x + x;
            Value z = y + y;
            Assert.That(y.Name, Is.EqualTo("/blocks.3/att/Add/output_0"));
            Assert.That(z.Name, Is.EqualTo("/blocks.3/att/Add_1/output_0"));
        }
    }

    [Test]
    public void Input_DefinedTwice_Throws()
    {
        var g = new OnnxGraph("t", 17, null);
        g.Input("x", ElementType.Float, 2);
        Assert.That(() => g.Input("x", ElementType.Float, 2),
            Throws.InvalidOperationException.With.Message.Contains("already defines a value named 'x'"));
    }

    [Test]
    public void Node_ReadingUndefinedValue_Throws()
    {
        var g = new OnnxGraph("t", 17, null);
        Assert.That(() => Exp(new Value(g, "nowhere")),
            Throws.InvalidOperationException.With.Message.Contains("reads 'nowhere'"));
    }

    [Test]
    public void Constants_AreDeduplicated()
    {
        var g = new OnnxGraph("t", 17, null);
        Value first = g.Const(0.5f);
        Value second = g.Const(0.5f);
        Assert.That(second, Is.EqualTo(first));
        Assert.That(g.Int64s(1, 2).Name, Is.EqualTo("/constants/INT64/[1,2]"));
        Assert.That(g.Proto.Initializer, Has.Count.EqualTo(2));
    }

    [Test]
    public void Writer_OpNeedingNewerOpset_ThrowsNamingNode()
    {
        var g = new OnnxGraph("t", 17, null);
        Value x = g.Input("x", ElementType.Float, 2);
        g.Output(g.Node("GroupNormalization", [x]), "y", ElementType.Float, 2);
        string path = Path.Combine(TestContext.CurrentContext.WorkDirectory, $"{Guid.NewGuid():N}.onnx");
        Assert.That(() => OnnxModelWriter.Write(g, path, new Dictionary<string, string>()),
            Throws.InvalidOperationException.With.Message.Contains("'/GroupNormalization'"));
        Assert.That(File.Exists(path), Is.False);
    }

    [TestCase(17)]
    [TestCase(18)]
    public void Ops_RunThroughOnnxRuntime_MatchHandValues(int opset)
    {
        var g = new OnnxGraph("t", opset, null);
        Value x = g.Input("x", ElementType.Float, 2, 4);
        // Per-row L2 normalisation, a Lerp with a constant and a LayerNorm: composite ops in one graph.
        Value normalized = x / Max(ReduceL2LastAxis(x), g.Const(1e-12f));
        Value lerp = x + (Sigmoid(x) - x) * 0.25f;
        Value norm = LayerNorm(x, g.Const(1f, 4), g.Const(0f, 4), 1e-5f);
        g.Output(normalized, "normalized", ElementType.Float, 2, 4);
        g.Output(lerp, "lerp", ElementType.Float, 2, 4);
        g.Output(norm, "norm", ElementType.Float, 2, 4);
        float[] input = [1, 2, 2, 4, -3, 0, 4, 0];

        Dictionary<string, float[]> outputs = Run(g, input, [2, 4]);

        Assert.That(outputs["normalized"], Is.EqualTo(new[] { 0.2f, 0.4f, 0.4f, 0.8f, -0.6f, 0, 0.8f, 0 }).Within(1e-6f));
        float[] lerpExpected = input.Select(v => v + (1f / (1f + MathF.Exp(-v)) - v) * 0.25f).ToArray();
        Assert.That(outputs["lerp"], Is.EqualTo(lerpExpected).Within(1e-6f));
        // Row 1: mean 2.25, variance 1.1875.
        float sd = MathF.Sqrt(1.1875f + 1e-5f);
        Assert.That(outputs["norm"].Take(4), Is.EqualTo(new[] { -1.25f / sd, -0.25f / sd, -0.25f / sd, 1.75f / sd }).Within(1e-5f));
    }

    [Test]
    public void Transpose_SwapsLeadingAxes()
    {
        // [2 rows, 2 slots, 2] to [2 slots, 2 rows, 2], as RWKV-6's token-shift LoRA uses it.
        var g = new OnnxGraph("t", 17, null);
        Value x = g.Input("x", ElementType.Float, 2, 4);
        g.Output(Transpose(Reshape(x, 2, 2, 2), 1, 0, 2), "t", ElementType.Float, 2, 2, 2);

        Dictionary<string, float[]> outputs = Run(g, [0, 1, 2, 3, 4, 5, 6, 7], [2, 4]);

        Assert.That(outputs["t"], Is.EqualTo(new float[] { 0, 1, 4, 5, 2, 3, 6, 7 }));
    }

    [Test]
    public void BinaryOp_WithOuterValueFirst_IsEmittedInTheBody()
    {
        var g = new OnnxGraph("t", 17, null);
        Value outer = g.Input("outer", ElementType.Float, 2);
        OnnxGraph body = g.CreateSubgraph("body");
        Value inner = body.BodyInput("inner", ElementType.Float);

        Value sum = outer + inner;

        Assert.That(sum.Graph, Is.SameAs(body));
        Assert.That(body.Proto.Node.Single().Input, Is.EqualTo(new[] { "outer", "inner" }));
        Assert.That(g.Proto.Node, Is.Empty);
    }

    [Test]
    public void Scan_BodyRunsOncePerStepCarryingState()
    {
        // A running sum: s_t = s_{t-1} * 0.5 + x_t, y_t = s_t.
        var g = new OnnxGraph("t", 17, null);
        Value s0 = g.Input("s0", ElementType.Float, 1, 2);
        Value xs = g.Input("xs", ElementType.Float, 1, 3, 2);
        OnnxGraph body = g.CreateSubgraph("body");
        Value s = body.BodyInput("s_in", ElementType.Float);
        Value x = body.BodyInput("x_in", ElementType.Float);
        Value next = s * 0.5f + x;
        body.BodyOutput(next, "s_out", ElementType.Float);
        body.BodyOutput(next, "y_out", ElementType.Float);
        Value[] r = Scan([s0], [xs], body.Proto, 1);
        g.Output(r[0], "final", ElementType.Float, 1, 2);
        g.Output(r[1], "ys", ElementType.Float, 1, 3, 2);

        string path = Path.Combine(TestContext.CurrentContext.WorkDirectory, $"{Guid.NewGuid():N}.onnx");
        OnnxModelWriter.Write(g, path, new Dictionary<string, string>());
        using var session = new InferenceSession(path);
        using IDisposableReadOnlyCollection<DisposableNamedOnnxValue> results = session.Run(
        [
            NamedOnnxValue.CreateFromTensor("s0", new DenseTensor<float>(new float[] { 4, 8 }, [1, 2])),
            NamedOnnxValue.CreateFromTensor("xs", new DenseTensor<float>(new float[] { 1, 1, 2, 2, 3, 3 }, [1, 3, 2])),
        ]);
        File.Delete(path);
        Assert.That(results.Single(v => v.Name == "ys").AsTensor<float>().ToArray(), Is.EqualTo(new float[] { 3, 5, 3.5f, 4.5f, 4.75f, 5.25f }));
        Assert.That(results.Single(v => v.Name == "final").AsTensor<float>().ToArray(), Is.EqualTo(new float[] { 4.75f, 5.25f }));
    }

    [Test]
    public void Output_OfAComputedValue_RenamesItsNodeInsteadOfCopying()
    {
        var g = new OnnxGraph("t", 17, null);
        Value x = g.Input("x", ElementType.Float, 2);
        Value e = Exp(x);
        g.Output(e, "e", ElementType.Float, 2);
        Value twice = e * 2f; // the handle from before the rename still reads the value
        g.Output(twice, "twice", ElementType.Float, 2);
        g.Output(e, "e_again", ElementType.Float, 2); // already an output: copied
        g.Output(x, "x_copy", ElementType.Float, 2);  // a graph input: copied

        Assert.That(g.Proto.Node.Single(n => n.OpType == "Exp").Output, Is.EqualTo(new[] { "e" }));
        Assert.That(g.Proto.Node.Single(n => n.OpType == "Mul").Input[0], Is.EqualTo("e"));
        Assert.That(g.Proto.Node.Where(n => n.OpType == "Identity").Select(n => (n.Input.Single(), n.Output.Single())),
            Is.EquivalentTo(new[] { ("e", "e_again"), ("x", "x_copy") }));
        Dictionary<string, float[]> outputs = Run(g, [0f, 1f], [2]);
        Assert.That(outputs["e"], Is.EqualTo(new[] { 1f, MathF.E }).Within(1e-6f));
        Assert.That(outputs["twice"], Is.EqualTo(new[] { 2f, 2 * MathF.E }).Within(1e-6f));
        Assert.That(outputs["e_again"], Is.EqualTo(outputs["e"]));
        Assert.That(outputs["x_copy"], Is.EqualTo(new[] { 0f, 1f }));
    }

    [Test]
    public void DeclareShape_RecordsValueInfo_ThatFollowsARenameToAnOutput()
    {
        var g = new OnnxGraph("t", 17, null);
        Value x = g.Input("x", ElementType.Float, "batch", 2);
        Value e = g.DeclareShape(Exp(x), ElementType.Float, "batch", 2L);
        Value r = g.DeclareShape(Reshape(e, 0, -1), ElementType.Float, "batch", "rest");
        g.Output(e, "e", ElementType.Float, "batch", 2);

        ValueInfoProto[] infos = [.. g.Proto.ValueInfo];
        Assert.That(infos.Select(i => i.Name), Is.EqualTo(new[] { "e", r.Name }));
        Assert.That(infos[1].Type.TensorType.Shape.Dim.Select(d => d.DimParam), Is.EqualTo(new[] { "batch", "rest" }));
        Assert.That(infos[0].Type.TensorType.Shape.Dim[1].DimValue, Is.EqualTo(2));
        Assert.That(Run(g, [0f, 1f], [1, 2])["e"], Is.EqualTo(new[] { 1f, MathF.E }).Within(1e-6f));
    }

    [Test]
    public void BodyOutput_OfAValueComputedInTheBody_RenamesItInTheBodyOnly()
    {
        var g = new OnnxGraph("t", 17, null);
        Value outer = Exp(g.Input("x", ElementType.Float, 2));
        OnnxGraph body = g.CreateSubgraph("body");
        Value inner = body.BodyInput("inner", ElementType.Float);
        Value sum = outer + inner;
        body.BodyOutput(sum, "sum_out", ElementType.Float);
        body.BodyOutput(outer, "outer_out", ElementType.Float); // computed outside the body: copied in it

        Assert.That(body.Proto.Node.Single(n => n.OpType == "Add").Output, Is.EqualTo(new[] { "sum_out" }));
        Assert.That(body.Proto.Node.Single(n => n.OpType == "Identity").Input, Is.EqualTo(new[] { outer.Name }));
        Assert.That(g.Proto.Node.Single().Output, Is.EqualTo(new[] { outer.Name }));
    }

    [TestCase(17)]
    [TestCase(18)]
    public void Split_CutsTheLastAxisIntoEqualParts(int opset)
    {
        // The attribute that gives the number of parts exists from opset 18 only.
        var g = new OnnxGraph("t", opset, null);
        Value x = g.Input("x", ElementType.Float, 2, 6);
        Value[] parts = Split(x, -1, 3);
        for (int i = 0; i < parts.Length; i++)
        {
            g.Output(parts[i], $"p{i}", ElementType.Float, 2, 2);
        }

        Dictionary<string, float[]> outputs = Run(g, [0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15], [2, 6]);

        Assert.That(outputs["p0"], Is.EqualTo(new float[] { 0, 1, 10, 11 }));
        Assert.That(outputs["p1"], Is.EqualTo(new float[] { 2, 3, 12, 13 }));
        Assert.That(outputs["p2"], Is.EqualTo(new float[] { 4, 5, 14, 15 }));
    }

    private static Dictionary<string, float[]> Run(OnnxGraph g, float[] input, int[] shape)
    {
        string path = Path.Combine(TestContext.CurrentContext.WorkDirectory, $"{Guid.NewGuid():N}.onnx");
        OnnxModelWriter.Write(g, path, new Dictionary<string, string>());
        try
        {
            using var session = new InferenceSession(path);
            using IDisposableReadOnlyCollection<DisposableNamedOnnxValue> results =
                session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(input, shape))]);
            return results.ToDictionary(r => r.Name, r => r.AsTensor<float>().ToArray());
        }
        finally
        {
            File.Delete(path);
        }
    }
}

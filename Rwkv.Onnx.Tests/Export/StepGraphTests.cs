using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Proto;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Export;

/// <summary>
/// The structure of exported step graphs, which decode runs once per token: once weights are small, the number of
/// nodes executed per token costs as much as the arithmetic, so the graph must not spend nodes on copies and splits.
/// </summary>
[TestFixture]
public sealed class StepGraphTests
{
    private string _work = "";

    [SetUp]
    public void SetUp()
    {
        _work = Path.Combine(Path.GetTempPath(), "rwkv-step-graph-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_work);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_work, recursive: true);

    [TestCase("4v0-660K", 3)]
    [TestCase("5v1-730K", 3)]
    [TestCase("5v2-730K", 4)]
    [TestCase("6v0-1m", 5)]
    [TestCase("7v0-834K", 6)]
    public void StepGraph_WritesStatesWithoutCopiesAndMixesEachLayerInOneSplit(string model, int mixes)
    {
        string output = Path.Combine(_work, "model");
        RwkvManifest manifest = RwkvExporter.Export(SharedFixtures.RwkvCppModel(model, "FP32"), output, new ExportOptions());
        GraphProto step = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(output, RwkvContract.StepGraphFile))).Graph;
        var produced = step.Node.SelectMany(n => n.Output.Select(o => (Output: o, n.OpType))).ToDictionary(p => p.Output, p => p.OpType);

        Assert.Multiple(() =>
        {
            // Every output, the logits and each layer's new states, is written by the op that computes it.
            Assert.That(step.Node.Where(n => n.OpType == "Identity").Select(n => n.Name), Is.Empty);
            Assert.That(step.Output.Select(o => produced.GetValueOrDefault(o.Name)), Has.None.Null);
            // The attention's token-shift mixes of each layer: one Split of one side-by-side Mul and Add.
            for (int layer = 0; layer < manifest.Architecture.Layers; layer++)
            {
                NodeProto? split = step.Node.SingleOrDefault(n => n.Name == $"/blocks.{layer}/att/mix/Split");
                Assert.That(split?.Output, Has.Count.EqualTo(mixes), $"layer {layer}");
            }
        });
    }
}

using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Proto;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Export;

/// <summary>
/// The structure of exported prefill graphs that decides how long ONNX Runtime takes to create their session: its
/// memory planner matches a freed buffer only to a value of the same shape, so a value whose shape has a dimension
/// without a value or a name stays on the free list, which every later allocation searches. Without names for the
/// dimensions a Reshape(-1), Pad or Slice leaves open, creating a prefill session took time quadratic in the number of
/// layers (BENCHMARKS.md, load time). Speed itself is not asserted here; the names that give it are.
/// </summary>
[TestFixture]
public sealed class PrefillGraphTests
{
    private static readonly HashSet<string> s_dimensionNames = ["batch", "sequence", "shifted", "wkv_padded", "wkv_chunks"];

    private readonly ScratchRoot _scratch = new("rwkv-prefill-graph-");

    [SetUp]
    public void SetUp() => _scratch.Create();

    [TearDown]
    public void TearDown() => _scratch.Delete();

    [TestCase("4v0-660K")]
    [TestCase("5v2-730K")]
    [TestCase("6v0-1m")]
    [TestCase("7v0-834K")]
    public void PrefillGraph_NamesTheShapesOfTokenShiftsAndChunkedRecurrences(string model)
    {
        string output = Path.Combine(_scratch.Path, "model");
        RwkvManifest manifest = RwkvExporter.Export(SharedFixtures.RwkvCppModel(model, "FP32"), output, new ExportOptions());
        GraphProto prefill = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(output, RwkvContract.PrefillGraphFile))).Graph;
        var producers = prefill.Node.SelectMany(n => n.Output.Select(o => (Output: o, Node: n))).ToDictionary(p => p.Output, p => p.Node);
        var shapes = prefill.ValueInfo.ToDictionary(
            i => i.Name, i => i.Type.TensorType.Shape.Dim.Select(d => d.HasDimParam ? d.DimParam : d.DimValue.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray());
        string embedding = manifest.Architecture.Embedding.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string[] rows = ["batch", "sequence", embedding];

        Assert.Multiple(() =>
        {
            // Each name is a value some node computes (renames included) and names only dimensions of one size.
            Assert.That(prefill.ValueInfo.Select(i => i.Name), Is.SubsetOf(producers.Keys));
            Assert.That(shapes.Values.SelectMany(s => s).Where(d => !long.TryParse(d, out _)).Distinct(), Is.SubsetOf(s_dimensionNames));
            for (int layer = 0; layer < manifest.Architecture.Layers; layer++)
            {
                string prefix = $"/blocks.{layer}/";
                var declared = shapes.Where(s => producers[s.Key].Name.StartsWith(prefix, StringComparison.Ordinal))
                    .Select(s => (Op: producers[s.Key].OpType, Dims: s.Value)).ToArray();
                NodeProto[] pads = [.. producers.Values.Distinct().Where(n => n.OpType == "Pad" && n.Name.StartsWith(prefix, StringComparison.Ordinal))];
                // Both token shifts (attention and channel mix): T − 1 rows kept, then T rows again with the state's.
                Assert.That(declared.Where(d => d.Op == "Slice" && d.Dims.SequenceEqual(["batch", "shifted", embedding])).Count(), Is.EqualTo(2), $"layer {layer}");
                Assert.That(declared.Where(d => d.Op == "Concat" && d.Dims.SequenceEqual(rows)).Count(), Is.EqualTo(2), $"layer {layer}");
                // The recurrence: each input padded to whole chunks and cut into them, and the output cut back to T rows.
                Assert.That(pads, Is.Not.Empty, $"layer {layer}");
                Assert.That(pads.Select(p => shapes.GetValueOrDefault(p.Output[0])), Has.All.EqualTo(new[] { "batch", "wkv_padded", embedding }), $"layer {layer}");
                Assert.That(declared.Count(d => d.Dims.Length > 1 && d.Dims[1] == "wkv_chunks"), Is.EqualTo(pads.Length), $"layer {layer}");
                Assert.That(declared.Where(d => d.Op == "Slice" && d.Dims.SequenceEqual(rows)).Count(), Is.EqualTo(1), $"layer {layer}");
            }
        });
    }
}

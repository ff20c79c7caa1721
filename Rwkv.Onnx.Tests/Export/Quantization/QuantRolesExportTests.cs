using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Proto;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Export.Quantization;

/// <summary>
/// Each <see cref="QuantRoles"/> role of an int4 layout keeps exactly its own linear layers at 8 bits: read back from
/// the step graph's MatMulNBits nodes (their <c>bits</c> attribute and the weight their codes belong to).
/// </summary>
[TestFixture]
public sealed class QuantRolesExportTests
{
    private readonly ScratchRoot _root = new("rwkv-quant-roles-tests-");

    [OneTimeSetUp]
    public void SetUp() => _root.Create();

    [OneTimeTearDown]
    public void TearDown() => _root.Delete();

    // 6v0 has every projection RWKV-7 has plus att.gate and ffn.receptance; 7v0 has no ffn.receptance or att.gate.
    [TestCase("6v0-1m", "att-key", "att.key")]
    [TestCase("6v0-1m", "att-receptance", "att.receptance")]
    [TestCase("6v0-1m", "att-gate", "att.gate")]
    [TestCase("6v0-1m", "att-value", "att.value")]
    [TestCase("6v0-1m", "att-output", "att.output")]
    [TestCase("6v0-1m", "ffn-key", "ffn.key")]
    [TestCase("6v0-1m", "ffn-receptance", "ffn.receptance")]
    [TestCase("6v0-1m", "ffn-value", "ffn.value")]
    [TestCase("7v0-834K", "att-key", "att.key")]
    [TestCase("7v0-834K", "att-receptance", "att.receptance")]
    [TestCase("7v0-834K", "ffn-key", "ffn.key")]
    public void Role_StoresExactlyItsLayersAt8Bits(string model, string role, string projection)
    {
        Dictionary<string, long> bits = MatMulBits(model, $"int4:block=32,head=int8,int8-roles={role}");
        string[] eight = [.. bits.Where(b => b.Value == 8).Select(b => b.Key).Order(StringComparer.Ordinal)];
        string[] expected = [.. bits.Keys.Where(k => k.EndsWith($".{projection}.weight", StringComparison.Ordinal) || k == "head.weight").Order(StringComparer.Ordinal)];
        Assert.Multiple(() =>
        {
            Assert.That(expected, Has.Length.GreaterThan(1), "the fixture has the projection");
            Assert.That(eight, Is.EqualTo(expected));
            Assert.That(bits.Where(b => !expected.Contains(b.Key)).Select(b => b.Value), Is.Not.Empty.And.All.EqualTo(4));
        });
    }

    [Test]
    public void FirstLast_StoresTheFirstAndLastLayersAt8Bits()
    {
        Dictionary<string, long> bits = MatMulBits("6v0-1m", "int4:block=32,head=int4,int8-roles=first-last");
        int last = bits.Keys.Where(k => k.StartsWith("blocks.", StringComparison.Ordinal)).Max(k => int.Parse(k.Split('.')[1], System.Globalization.CultureInfo.InvariantCulture));
        Assert.That(last, Is.GreaterThanOrEqualTo(2), "the fixture has a middle layer");
        foreach ((string weight, long b) in bits)
        {
            bool edge = weight.StartsWith("blocks.0.", StringComparison.Ordinal) || weight.StartsWith($"blocks.{last}.", StringComparison.Ordinal);
            Assert.That(b, Is.EqualTo(edge ? 8 : 4), weight);
        }
    }

    // Weight name → bits of the step graph's MatMulNBits that reads it (codes are named "<weight>_Q<bits>").
    private Dictionary<string, long> MatMulBits(string model, string layout)
    {
        string dir = Path.Combine(_root.Path, $"{model}-{layout.GetHashCode():x8}");
        RwkvExporter.Export(SharedFixtures.RwkvCppModel(model, "FP32"), dir, LayoutExportOptions.For(QuantLayout.Parse(layout)));
        ModelProto step = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dir, RwkvContract.StepGraphFile)));
        return step.Graph.Node.Where(n => n.OpType == "MatMulNBits").ToDictionary(
            n => n.Input[1][..n.Input[1].LastIndexOf("_Q", StringComparison.Ordinal)],
            n => n.Attribute.Single(a => a.Name == "bits").I);
    }
}

using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Proto;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Export;

/// <summary>Options and graph structure of int8/int4 exports (numbers are in <c>QuantizedParityTests</c>).</summary>
[TestFixture]
public sealed class QuantizedExportTests
{
    private const string Model = "7v0-834K";
    private string _work = "";

    [SetUp]
    public void SetUp() => _work = Directory.CreateTempSubdirectory("rwkv-quantized-export-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_work, recursive: true);

    [TestCase(8)]
    [TestCase(48)]
    [TestCase(512)]
    public void BlockSize_OutsidePowersOfTwoFrom16To256_IsRejected(int blockSize) =>
        Assert.That(() => new ExportOptions { BlockSize = blockSize }, Throws.TypeOf<ArgumentOutOfRangeException>());

    [Test]
    public void Fp32Export_ImportsOnlyTheDefaultDomain()
    {
        RwkvManifest manifest = RwkvExporter.Export(SharedFixtures.RwkvCppModel(Model, "FP32"), Path.Combine(_work, "fp32"), new ExportOptions());
        ModelProto step = Load(Path.Combine(_work, "fp32", RwkvContract.StepGraphFile));
        Assert.Multiple(() =>
        {
            Assert.That(step.OpsetImport.Select(o => o.Domain), Is.EqualTo(new[] { "" }));
            Assert.That((manifest.WeightDType, manifest.HeadDType, manifest.BlockSize), Is.EqualTo(("fp32", "fp32", (int?)null)));
        });
    }

    [Test]
    public void Int4BodyWithFp32Head_KeepsTheHeadAFloatMatMulAndLoRAsFloat()
    {
        string dir = Path.Combine(_work, "int4");
        RwkvManifest manifest = RwkvExporter.Export(SharedFixtures.RwkvCppModel(Model, "FP32"), dir,
            new ExportOptions { WeightDType = WeightDType.Int4, HeadWeightDType = WeightDType.Float32, BlockSize = 16 });
        ModelProto prefill = Load(Path.Combine(dir, RwkvContract.PrefillGraphFile));
        NodeProto[] quantized = [.. prefill.Graph.Node.Where(n => n.OpType == "MatMulNBits")];
        Assert.Multiple(() =>
        {
            // 12 layers × (receptance, key, value, output, ffn.key, ffn.value).
            Assert.That(quantized, Has.Length.EqualTo(12 * 6));
            Assert.That(quantized.Select(n => n.Attribute.Single(a => a.Name == "block_size").I), Is.All.EqualTo(16));
            Assert.That(prefill.Graph.Node.Single(n => n.Name == "/head/MatMul").Input, Does.Contain("head.weight"));
            Assert.That(prefill.Graph.Initializer.Single(t => t.Name == "blocks.3.att.w1").DataType, Is.EqualTo(1), "LoRA stays float32");
            Assert.That(prefill.Graph.Initializer.Single(t => t.Name == "blocks.3.att.key.weight_Q4").Dims, Is.EqualTo(new long[] { 64, 4, 8 }));
            Assert.That((manifest.WeightDType, manifest.HeadDType, manifest.BlockSize), Is.EqualTo(("int4", "fp32", (int?)16)));
        });
        using RwkvModel model = RwkvModel.Load(dir);
        Assert.That(model.VocabSize, Is.EqualTo(256));
    }

    private static ModelProto Load(string path) => ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
}

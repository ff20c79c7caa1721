using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Proto;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Export;

/// <summary>
/// The bytes and FLOPs bench divides by: a quantized export has the same matrices as its fp32 export, and reads their
/// codes and scales instead of float32 weights.
/// </summary>
[TestFixture]
public sealed class RwkvModelCostTests
{
    private const string Model = "7v0-834K";

    private string _root = "";
    private string _fp32 = "";

    [OneTimeSetUp]
    public void ExportFp32()
    {
        _root = Directory.CreateTempSubdirectory("rwkv-model-cost-tests-").FullName;
        _fp32 = Export("fp32", new ExportOptions());
    }

    [OneTimeTearDown]
    public void Delete() => Directory.Delete(_root, recursive: true);

    [Test]
    public void Fp32_CountsEveryMatrixOnce_AndNotTheGatheredEmbedding()
    {
        RwkvModelCost cost = RwkvModelCost.Read(_fp32, RwkvManifest.Load(_fp32));
        RwkvArchitectureInfo a = RwkvManifest.Load(_fp32).Architecture;
        Assert.Multiple(() =>
        {
            Assert.That(cost.HeadParameters, Is.EqualTo((long)a.Vocab * a.Embedding));
            // Every parameter but the embedding table and the vectors is in a matrix one step reads.
            Assert.That(cost.BodyMatrixParameters + cost.HeadParameters, Is.InRange(a.Parameters - (long)a.Vocab * a.Embedding - 40_000, a.Parameters - (long)a.Vocab * a.Embedding));
            Assert.That(cost.StepWeightBytes, Is.GreaterThanOrEqualTo(4 * (cost.BodyMatrixParameters + cost.HeadParameters)));
        });
    }

    [TestCase(WeightDType.Int8, 32)]
    [TestCase(WeightDType.Int4, 32)]
    [TestCase(WeightDType.Int4, 128)]
    public void Quantized_SameParameters_BytesOfCodesAndScales(WeightDType dtype, int blockSize)
    {
        string dir = Export($"{dtype}-{blockSize}", new ExportOptions { WeightDType = dtype, HeadWeightDType = dtype, BlockSize = blockSize });
        RwkvModelCost fp32 = RwkvModelCost.Read(_fp32, RwkvManifest.Load(_fp32));
        RwkvModelCost quantized = RwkvModelCost.Read(dir, RwkvManifest.Load(dir));
        int bits = dtype == WeightDType.Int8 ? 8 : 4;
        // Each K × N matrix becomes N · ⌈K / B⌉ blocks of B · bits / 8 code bytes and one float32 scale.
        long saved = 0;
        ModelProto step = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dir, RwkvContract.StepGraphFile)));
        foreach (NodeProto node in step.Graph.Node.Where(n => n.OpType == "MatMulNBits"))
        {
            long k = node.Attribute.Single(a => a.Name == "K").I, n = node.Attribute.Single(a => a.Name == "N").I;
            long blocks = (k + blockSize - 1) / blockSize;
            saved += 4 * k * n - n * blocks * (blockSize * bits / 8 + 4);
        }
        Assert.Multiple(() =>
        {
            Assert.That(saved, Is.GreaterThan(0));
            Assert.That((quantized.BodyMatrixParameters, quantized.HeadParameters), Is.EqualTo((fp32.BodyMatrixParameters, fp32.HeadParameters)));
            Assert.That(quantized.PrefillFlopsPerToken, Is.EqualTo(fp32.PrefillFlopsPerToken));
            Assert.That(quantized.StepWeightBytes, Is.EqualTo(fp32.StepWeightBytes - saved));
        });
    }

    private string Export(string name, ExportOptions options)
    {
        string dir = Path.Combine(_root, name);
        RwkvExporter.Export(SharedFixtures.RwkvCppModel(Model, "FP32"), dir, options);
        return dir;
    }
}

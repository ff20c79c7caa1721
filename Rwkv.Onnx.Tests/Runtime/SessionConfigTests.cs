using System.Text.Json.Nodes;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Runtime;

/// <summary>
/// The manifest's <c>session_config</c> reaches every CPU session, including an
/// <c>optimization.disable_specified_optimizers</c> list, which the runtime extends with its own entry (MatMulAddFusion)
/// instead of replacing it: ONNX Runtime keeps only the last entry under a key.
/// </summary>
/// <remarks>
/// Observed through memory, the one effect these optimizers have that a test can see: on the CPU, ONNX Runtime widens
/// each float16 matrix of an fp16 export to a float32 initializer per session (CastFloat16Transformer,
/// FuseFp16InitializerToFp32NodeTransformer, ConstantFolding), about twice the weights file per session in private
/// memory. With the three disabled the sessions keep the float16 weights where they are mapped and widen them per call,
/// so loading adds little private memory. Linux only (/proc/self/status); non-parallel, since another test's
/// allocations would count.
/// </remarks>
[TestFixture]
[NonParallelizable]
public sealed class SessionConfigTests
{
    private const string DisabledOptimizers = "ConstantFolding;CastFloat16Transformer;FuseFp16InitializerToFp32NodeTransformer";
    private readonly ScratchRoot _root = new("rwkv-onnx-session-config-");
    private string _model = "";

    [OneTimeSetUp]
    public void ExportModel()
    {
        _root.Create();
        _model = ProcessMemory.ExportRandomModel(_root.Path, new ExportOptions { WeightDType = WeightDType.Float16 });

        string manifestPath = Path.Combine(_model, RwkvContract.ManifestFile);
        JsonNode manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!;
        manifest["session_config"] = new JsonObject
        {
            ["optimization.disable_specified_optimizers"] = DisabledOptimizers,
            [RwkvContract.DisablePrepackingConfigKey] = "1",
        };
        File.WriteAllText(manifestPath, manifest.ToJsonString());
    }

    [OneTimeTearDown]
    public void Delete() => _root.Delete();

    [Test]
    public void Load_ManifestDisablesTheFloat16Widening_SessionsKeepNoFloat32Copy()
    {
        Assume.That(OperatingSystem.IsLinux(), "needs /proc/self/status");
        long weights = new FileInfo(Path.Combine(_model, RwkvContract.WeightsFile)).Length;
        using (RwkvModel warmUp = RwkvModel.Load(_model)) // ONNX Runtime's one-time allocations, as in any later load
        {
        }

        ProcessMemory.SettleManagedHeap();
        long before = ProcessMemory.StatusBytes("RssAnon:");
        using RwkvModel model = RwkvModel.Load(_model);
        long growth = ProcessMemory.StatusBytes("RssAnon:") - before;
        // Widened, each session would hold 2 × the file in float32 (measured: 4.1 × the file for both); kept as mapped,
        // the sessions add their plans and arenas only.
        TestContext.Progress.WriteLine($"private growth during load {growth >> 20} MiB, weights {weights >> 20} MiB");

        Assert.That(growth, Is.LessThan(weights / 2), $"private growth {growth >> 20} MiB for a float16 weights file of {weights >> 20} MiB");
    }
}

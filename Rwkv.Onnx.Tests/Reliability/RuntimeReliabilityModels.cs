using Rwkv.Onnx.Export;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Reliability;

/// <summary>
/// Exports the tiny RWKV-7 fixture once per test run for the reliability tests (FP32, and FP16 as "another
/// export" of the same architecture), into a temporary root that is deleted after the run.
/// </summary>
[SetUpFixture]
public sealed class RuntimeReliabilityModels
{
    private static readonly ScratchRoot s_root = new("rwkv-onnx-reliability-tests-");
    private static string? s_tiny7;
    private static string? s_tiny7Fp16;

    /// <summary>The exported <c>tiny-rwkv-7v0-834K-FP32</c> model (vocab 256, 12 layers, width 64). Do not damage it; copy it.</summary>
    public static string Tiny7 => s_tiny7 ?? throw new InvalidOperationException("The reliability test models were not exported.");

    /// <summary>The same checkpoint exported with fp16 weights: same architecture and I/O, other weights file.</summary>
    public static string Tiny7Fp16 => s_tiny7Fp16 ?? throw new InvalidOperationException("The reliability test models were not exported.");

    /// <summary>The checkpoint both models were exported from.</summary>
    public static string Checkpoint => SharedFixtures.RwkvCppModel("7v0-834K", "FP32");

    /// <summary>Creates an empty temporary directory under this run's root; it is deleted after the run.</summary>
    public static string CreateTemporaryDirectory() => s_root.CreateDirectory();

    /// <summary>Copies a model directory (flat) into a new temporary directory, so a test may damage the copy.</summary>
    public static string CopyModel(string source) => s_root.CopyModel(source);

    [OneTimeSetUp]
    public void ExportModels()
    {
        s_root.Create();
        s_tiny7 = Path.Combine(s_root.Path, "tiny-rwkv-7v0-834K");
        RwkvExporter.Export(Checkpoint, s_tiny7, new ExportOptions());
        s_tiny7Fp16 = Path.Combine(s_root.Path, "tiny-rwkv-7v0-834K-fp16");
        RwkvExporter.Export(Checkpoint, s_tiny7Fp16, new ExportOptions { WeightDType = WeightDType.Float16 });
    }

    [OneTimeTearDown]
    public void DeleteModels()
    {
        s_root.Delete();
        s_tiny7 = null;
        s_tiny7Fp16 = null;
    }
}

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
    private static string? s_root;
    private static string? s_tiny7;
    private static string? s_tiny7Fp16;

    /// <summary>The exported <c>tiny-rwkv-7v0-834K-FP32</c> model (vocab 256, 12 layers, width 64). Do not damage it; copy it.</summary>
    public static string Tiny7 => s_tiny7 ?? throw new InvalidOperationException("The reliability test models were not exported.");

    /// <summary>The same checkpoint exported with fp16 weights: same architecture and I/O, other weights file.</summary>
    public static string Tiny7Fp16 => s_tiny7Fp16 ?? throw new InvalidOperationException("The reliability test models were not exported.");

    /// <summary>The checkpoint both models were exported from.</summary>
    public static string Checkpoint => SharedFixtures.RwkvCppModel("7v0-834K", "FP32");

    /// <summary>Creates an empty temporary directory under this run's root; it is deleted after the run.</summary>
    public static string CreateTemporaryDirectory()
    {
        string path = Path.Combine(s_root ?? throw new InvalidOperationException("No test run root."), Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Copies a model directory (flat) into a new temporary directory, so a test may damage the copy.</summary>
    public static string CopyModel(string source)
    {
        string target = CreateTemporaryDirectory();
        foreach (string file in Directory.GetFiles(source))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }
        return target;
    }

    [OneTimeSetUp]
    public void ExportModels()
    {
        s_root = Directory.CreateTempSubdirectory("rwkv-onnx-reliability-tests-").FullName;
        s_tiny7 = Path.Combine(s_root, "tiny-rwkv-7v0-834K");
        RwkvExporter.Export(Checkpoint, s_tiny7, new ExportOptions());
        s_tiny7Fp16 = Path.Combine(s_root, "tiny-rwkv-7v0-834K-fp16");
        RwkvExporter.Export(Checkpoint, s_tiny7Fp16, new ExportOptions { WeightDType = WeightDType.Float16 });
    }

    [OneTimeTearDown]
    public void DeleteModels()
    {
        if (s_root is not null && Directory.Exists(s_root))
        {
            Directory.Delete(s_root, recursive: true);
        }
        s_root = null;
        s_tiny7 = null;
        s_tiny7Fp16 = null;
    }
}

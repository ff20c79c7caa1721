using Rwkv.Onnx.Export;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Runtime;

/// <summary>
/// Exports the tiny RWKV-7 fixture (<see cref="SharedFixtures.RwkvCppModel"/>) once per test run into a
/// temporary directory, for the runtime tests, and deletes it after the run.
/// </summary>
[SetUpFixture]
public sealed class RuntimeTestModels
{
    private static string? s_root;
    private static string? s_tiny7;

    /// <summary>The exported <c>tiny-rwkv-7v0-834K-FP32</c> model directory (vocab 256, 12 layers, width 64).</summary>
    public static string Tiny7 => s_tiny7 ?? throw new InvalidOperationException("The runtime test models were not exported.");

    /// <summary>The logits rwkv.cpp expects for <see cref="Tiny7"/> after <see cref="SharedFixtures.PromptTokens"/>.</summary>
    public static float[] Tiny7ExpectedLogits => SharedFixtures.ExpectedLogits("7v0-834K");

    /// <summary>The prompt of the expected-logits fixtures: the bytes of <c>"in</c>.</summary>
    public static int[] Prompt => SharedFixtures.PromptTokens.ToArray();

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
        s_root = Path.Combine(Path.GetTempPath(), $"rwkv-onnx-runtime-tests-{Guid.NewGuid():N}");
        Directory.CreateDirectory(s_root);
        s_tiny7 = Path.Combine(s_root, "tiny-rwkv-7v0-834K");
        RwkvExporter.Export(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), s_tiny7, new ExportOptions());
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
    }
}

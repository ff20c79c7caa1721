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
    private static readonly ScratchRoot s_root = new("rwkv-onnx-runtime-tests-");
    private static string? s_tiny7;

    /// <summary>The exported <c>tiny-rwkv-7v0-834K-FP32</c> model directory (vocab 256, 12 layers, width 64).</summary>
    public static string Tiny7 => s_tiny7 ?? throw new InvalidOperationException("The runtime test models were not exported.");

    /// <summary>The logits rwkv.cpp expects for <see cref="Tiny7"/> after <see cref="SharedFixtures.PromptTokens"/>.</summary>
    public static float[] Tiny7ExpectedLogits => SharedFixtures.ExpectedLogits("7v0-834K");

    /// <summary>The prompt of the expected-logits fixtures: the bytes of <c>"in</c>.</summary>
    public static int[] Prompt => SharedFixtures.PromptTokens.ToArray();

    /// <summary>Creates an empty temporary directory under this run's root; it is deleted after the run.</summary>
    public static string CreateTemporaryDirectory() => s_root.CreateDirectory();

    /// <summary>Copies a model directory (flat) into a new temporary directory, so a test may damage the copy.</summary>
    public static string CopyModel(string source) => s_root.CopyModel(source);

    [OneTimeSetUp]
    public void ExportModels()
    {
        s_root.Create();
        s_tiny7 = Path.Combine(s_root.Path, "tiny-rwkv-7v0-834K");
        RwkvExporter.Export(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), s_tiny7, new ExportOptions());
    }

    [OneTimeTearDown]
    public void DeleteModels()
    {
        s_root.Delete();
        s_tiny7 = null;
    }
}

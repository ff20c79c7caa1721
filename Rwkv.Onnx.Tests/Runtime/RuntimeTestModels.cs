using NUnit.Framework;
using Rwkv.Onnx.Export;

namespace Rwkv.Onnx.Tests.Runtime;

/// <summary>
/// Exports the tiny RWKV-7 fixture once per test run into a temporary directory, for the runtime tests.
/// The fixture lives in <c>../shared/fixtures</c> next to the repository root (the folder holding
/// <c>RwkvOnnx.sln</c>); nothing is downloaded or copied into the repository.
/// </summary>
[SetUpFixture]
public sealed class RuntimeTestModels
{
    /// <summary>The rwkv.cpp fixture folder, relative to the repository root.</summary>
    private const string RwkvCppFixtures = "../shared/fixtures/rwkv-cpp";

    private static string? s_root;
    private static string? s_tiny7;

    /// <summary>The exported <c>tiny-rwkv-7v0-834K-FP32</c> model directory (vocab 256, 12 layers, width 64).</summary>
    public static string Tiny7 => s_tiny7 ?? throw new InvalidOperationException("The runtime test models were not exported.");

    /// <summary>A fixture file from the rwkv.cpp folder, e.g. <c>expected-logits-7v0-834K.bin</c>.</summary>
    public static string RwkvCppFixture(string file) => Path.GetFullPath(Path.Combine(RepositoryRoot(), RwkvCppFixtures, file));

    /// <summary>
    /// The logits rwkv.cpp expects after feeding <see cref="ExpectedLogitsPrompt"/> from the initial state,
    /// read from <c>expected-logits-{model}.bin</c> (256 little-endian float32 values).
    /// </summary>
    public static float[] ExpectedLogits(string model)
    {
        byte[] bytes = File.ReadAllBytes(RwkvCppFixture($"expected-logits-{model}.bin"));
        return [.. Enumerable.Range(0, bytes.Length / sizeof(float)).Select(i => BitConverter.ToSingle(bytes, i * sizeof(float)))];
    }

    /// <summary>The prompt of the expected-logits fixtures: the bytes of <c>"in</c>.</summary>
    public static int[] ExpectedLogitsPrompt => [34, 105, 110];

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
        RwkvExporter.Export(RwkvCppFixture("tiny-rwkv-7v0-834K-FP32.bin"), s_tiny7, new ExportOptions());
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

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? directory = new(TestContext.CurrentContext.TestDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "RwkvOnnx.sln")))
            {
                return directory.FullName;
            }
        }
        throw new DirectoryNotFoundException($"No folder above '{TestContext.CurrentContext.TestDirectory}' contains RwkvOnnx.sln.");
    }
}

using System.Reflection;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntimeGenAI;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Genai.Tests;

/// <summary>
/// Genai's native library loads the ONNX Runtime beside it; the comparisons mean something only if that is the one our
/// runtime uses, the solution's release (Directory.Build.props OnnxRuntimeVersion), loaded once.
/// </summary>
[NonParallelizable]
public sealed class GenaiRuntimeTests
{
    private readonly ScratchRoot _scratch = new("rwkv-genai-runtime-");

    [OneTimeSetUp]
    public void Create() => _scratch.Create();

    [OneTimeTearDown]
    public void Delete() => _scratch.Delete();

    [Test]
    public void GenaiAndOurRuntime_ShareOneOnnxRuntime_TheSolutionsRelease()
    {
        string native = Path.Combine(AppContext.BaseDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier, "native");
        Assert.That(Directory.GetFiles(native, "*onnxruntime.*").Select(Path.GetFileName), Is.EquivalentTo(new[] { NativeLibraryName() }),
            $"the ONNX Runtime libraries in '{native}'");
        Assert.That(OrtEnv.Instance().GetVersionString(), Is.EqualTo(SolutionOnnxRuntimeVersion()));

        string genai = Path.Combine(_scratch.Path, "genai");
        RwkvExporter.Export(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), genai, new ExportOptions { Target = ExportTarget.Genai });
        using var model = new Model(genai);
        using RwkvModel ours = RwkvModel.Load(ExportOurs());
        if (OperatingSystem.IsLinux())
        {
            // Every mapping of an ONNX Runtime library in this process: one file, whoever loaded it.
            string[] mapped = [.. File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(f => f.Length >= 6 && Path.GetFileName(f[5]) == "libonnxruntime.so").Select(f => f[5]).Distinct()];
            Assert.That(mapped, Has.Length.EqualTo(1), string.Join(", ", mapped));
        }
    }

    private static string SolutionOnnxRuntimeVersion() =>
        typeof(GenaiRuntimeTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "OnnxRuntimeVersion").Value!;

    private string ExportOurs()
    {
        string ours = Path.Combine(_scratch.Path, "rwkv");
        RwkvExporter.Export(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), ours, new ExportOptions());
        return ours;
    }

    private static string NativeLibraryName() =>
        OperatingSystem.IsWindows() ? "onnxruntime.dll" : OperatingSystem.IsMacOS() ? "libonnxruntime.dylib" : "libonnxruntime.so";
}

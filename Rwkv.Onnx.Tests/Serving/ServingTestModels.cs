using Rwkv.Onnx.Export;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Serving;

/// <summary>
/// Exports tiny fixtures once for the tests of the Serving namespace: the RWKV-7 model, loaded and shared (a model is
/// thread-safe; each engine makes its own runners and states), and the other versions on demand.
/// </summary>
[SetUpFixture]
public sealed class ServingTestModels
{
    private static readonly ScratchRoot s_root = new("rwkv-serving-tests-");
    private static readonly Dictionary<string, string> s_exports = [];
    private static RwkvModel? s_model;

    /// <summary>The loaded export of <c>tiny-rwkv-7v0-834K</c> (vocab 256, byte tokenizer).</summary>
    public static RwkvModel Model => s_model ?? throw new InvalidOperationException("The serving test model was not loaded.");

    /// <summary>The export directory of the rwkv.cpp fixture <paramref name="name"/> (e.g. <c>6v0-1m</c>), exported on first use.</summary>
    public static string Export(string name)
    {
        lock (s_exports)
        {
            if (!s_exports.TryGetValue(name, out string? directory))
            {
                directory = Path.Combine(s_root.CreateDirectory(), "model");
                RwkvExporter.Export(SharedFixtures.RwkvCppModel(name, "FP32"), directory, new ExportOptions());
                s_exports[name] = directory;
            }
            return directory;
        }
    }

    [OneTimeSetUp]
    public void ExportAndLoad()
    {
        s_root.Create();
        s_model = RwkvModel.Load(Export("7v0-834K"));
    }

    [OneTimeTearDown]
    public void Cleanup()
    {
        s_model?.Dispose();
        s_model = null;
        s_exports.Clear();
        s_root.Delete();
    }
}

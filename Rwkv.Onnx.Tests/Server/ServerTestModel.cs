using Rwkv.Onnx.Export;
using Rwkv.Onnx.Tests.Fixtures;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Server;

/// <summary>
/// The server tests' model: the tiny <c>7v0-834K</c> fixture (vocab 256, byte tokenizer) exported once for the namespace,
/// so each test's server starts in milliseconds and a token takes well under a millisecond.
/// </summary>
[SetUpFixture]
public sealed class ServerTestModel
{
    /// <summary>The id clients send as <c>model</c>.</summary>
    public const string ModelId = "tiny-rwkv7";

    private static readonly ScratchRoot s_root = new("rwkv-server-tests-");
    private static RwkvModel? s_model;

    /// <summary>The exported model directory.</summary>
    public static string Directory { get; private set; } = "";

    /// <summary>The loaded model, shared by every test's engine.</summary>
    public static RwkvModel Model => s_model ?? throw new InvalidOperationException("The server test model was not loaded.");

    /// <summary>The model's tokenizer (bytes).</summary>
    public static ByteLevelTokenizer Tokenizer => RwkvTokenizers.Load(Model);

    [OneTimeSetUp]
    public void ExportAndLoad()
    {
        s_root.Create();
        Directory = Path.Combine(s_root.Path, "model");
        RwkvExporter.Export(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), Directory, new ExportOptions());
        s_model = RwkvModel.Load(Directory);
    }

    [OneTimeTearDown]
    public void Cleanup()
    {
        s_model?.Dispose();
        s_model = null;
        s_root.Delete();
    }
}

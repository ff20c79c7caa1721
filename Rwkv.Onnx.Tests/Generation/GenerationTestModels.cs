using Rwkv.Onnx.Export;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Generation;

/// <summary>
/// Exports the tiny RWKV-7 fixture once for every test of the Generation namespace and loads it; the model is
/// shared (a model is thread-safe), each test makes its own states and runners.
/// </summary>
[SetUpFixture]
public sealed class GenerationTestModels
{
    private static string? s_root;
    private static RwkvModel? s_model;

    /// <summary>The exported <c>tiny-rwkv-7v0-834K</c> directory (vocab 256, byte tokenizer).</summary>
    public static string Directory => Path.Combine(s_root ?? throw new InvalidOperationException("The generation test model was not exported."), "model");

    /// <summary>The loaded model.</summary>
    public static RwkvModel Model => s_model ?? throw new InvalidOperationException("The generation test model was not loaded.");

    [OneTimeSetUp]
    public void ExportAndLoad()
    {
        s_root = System.IO.Directory.CreateTempSubdirectory("rwkv-generation-tests-").FullName;
        RwkvExporter.Export(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), Directory, new ExportOptions());
        s_model = RwkvModel.Load(Directory);
    }

    [OneTimeTearDown]
    public void Cleanup()
    {
        s_model?.Dispose();
        s_model = null;
        if (s_root is not null)
        {
            System.IO.Directory.Delete(s_root, recursive: true);
        }
        s_root = null;
    }

    /// <summary>Feeds <paramref name="tokens"/> one at a time from the initial state; returns the logits after each.</summary>
    public static float[][] StepLogits(IReadOnlyList<int> tokens)
    {
        using RwkvState state = Model.CreateState();
        using RwkvRunner runner = Model.CreateRunner();
        var all = new float[tokens.Count][];
        for (int i = 0; i < tokens.Count; i++)
        {
            all[i] = new float[Model.VocabSize];
            runner.Forward([tokens[i]], state, all[i], RwkvForwardMode.Step);
        }
        return all;
    }

    /// <summary>Greedy continuation by a hand-written step loop: <paramref name="count"/> tokens after <paramref name="prompt"/>.</summary>
    public static List<int> GreedyTokens(IReadOnlyList<int> prompt, int count)
    {
        using RwkvState state = Model.CreateState();
        using RwkvRunner runner = Model.CreateRunner();
        float[] logits = new float[Model.VocabSize];
        foreach (int token in prompt)
        {
            runner.Forward([token], state, logits, RwkvForwardMode.Step);
        }
        var tokens = new List<int>();
        for (int i = 0; i < count; i++)
        {
            int next = Array.IndexOf(logits, logits.Max());
            tokens.Add(next);
            runner.Forward([next], state, logits, RwkvForwardMode.Step);
        }
        return tokens;
    }
}

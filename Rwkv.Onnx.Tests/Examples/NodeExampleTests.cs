using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Text.Json;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Examples;

/// <summary>A tiny fixture export that <c>examples/node</c> must run as our runtime does.</summary>
/// <param name="Model">The rwkv.cpp fixture, e.g. <c>7v0-834K</c>.</param>
/// <param name="DType">Weight dtype of the export.</param>
/// <param name="Tolerance">Max |Δlogit| between onnxruntime-node and our runtime.</param>
public sealed record NodeExampleCase(string Model, WeightDType DType, float Tolerance)
{
    public override string ToString() => $"{Model} {DType}";
}

/// <summary>
/// <c>examples/node</c> (onnxruntime-node, driven from the manifest alone) against our runtime: the logits after every
/// token of a prompt whose first part goes through prefill.onnx in one run and the rest through step.onnx.
/// </summary>
[TestFixture]
public sealed class NodeExampleTests
{
    private const int PromptLength = 20;
    private const int PrefillLength = 12;

    public static readonly NodeExampleCase[] Cases =
    [
        new("4v0-660K", WeightDType.Float32, 1e-5f),
        new("5v1-730K", WeightDType.Float32, 1e-5f),
        new("5v2-730K", WeightDType.Float32, 1e-5f),
        new("6v0-1m", WeightDType.Float32, 1e-5f),
        new("7v0-834K", WeightDType.Float32, 1e-5f),
        // MatMulNBits with int8 compute, onnxruntime-node 1.30 against our ONNX Runtime 1.32: measured 0, as for fp32.
        new("7v0-834K", WeightDType.Int8, 1e-5f),
    ];

    private readonly ScratchRoot _scratch = new("rwkv-node-example-");
    private string _example = "";

    [OneTimeSetUp]
    public void SetUp()
    {
        _example = ExampleProjects.Directory("node", "onnxruntime-node");
        _scratch.Create();
    }

    [OneTimeTearDown]
    public void TearDown() => _scratch.Delete();

    [TestCaseSource(nameof(Cases))]
    public void Logits_MatchOurRuntime_AtEveryPrefillAndStepPosition(NodeExampleCase testCase)
    {
        string model = _scratch.CreateDirectory();
        Directory.Delete(model);
        RwkvExporter.Export(SharedFixtures.RwkvCppModel(testCase.Model, "FP32"), model, new ExportOptions { WeightDType = testCase.DType });
        int[] tokens = Prompt();
        string output = Path.Combine(_scratch.Path, $"{Guid.NewGuid():N}.bin");

        ChildProcess.Result run = ExampleProjects.RunNode(_example, "logits.mjs",
            [model, string.Join(',', tokens), "--prefill", $"{PrefillLength}", "--out", output]);

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        float[] node = ReadFloats(output);
        float[] ours = OurLogits(model, tokens);
        Assert.That(node, Has.Length.EqualTo(ours.Length), "one row of logits per token");
        for (int t = 0; t < tokens.Length; t++)
        {
            Assert.That(node.AsSpan(t * 256, 256).ToArray(), Is.EqualTo(ours.AsSpan(t * 256, 256).ToArray()).Within(testCase.Tolerance),
                $"position {t} ({(t < PrefillLength ? "prefill" : "step")})");
        }
    }

    [Test]
    public void Generate_GreedyIds_MatchOurRuntime()
    {
        string model = _scratch.CreateDirectory();
        Directory.Delete(model);
        RwkvExporter.Export(SharedFixtures.RwkvCppModel("6v0-1m", "FP32"), model, new ExportOptions());
        int[] prompt = Prompt();

        ChildProcess.Result run = ExampleProjects.RunNode(_example, "generate.mjs", [model, string.Join(',', prompt), "--max", "32"]);

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(JsonSerializer.Deserialize<int[]>(run.StandardOutput), Is.EqualTo(OurGreedy(model, prompt, 32)));
        Assert.That(run.StandardError, Does.Match(@"^prefill: 20 tokens, [0-9.]+ tok/s; decode: 31 tokens, [0-9.]+ tok/s\n$"));
    }

    [Test]
    public void TokenOutsideTheVocabulary_IsOneErrorLine()
    {
        string model = _scratch.CreateDirectory();
        Directory.Delete(model);
        RwkvExporter.Export(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), model, new ExportOptions());

        ChildProcess.Result run = ExampleProjects.RunNode(_example, "logits.mjs", [model, "1,256"]);

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.StandardError.Trim(), Is.EqualTo("error: token id 256 is outside the vocabulary of 256"));
    }

    // Our runtime the same way: the first PrefillLength tokens in one prefill run, then one step per token.
    private static float[] OurLogits(string directory, int[] tokens)
    {
        using RwkvModel model = RwkvModel.Load(directory);
        using RwkvRunner runner = model.CreateRunner();
        runner.PrefillChunkSize = PrefillLength;
        using RwkvState state = model.CreateState();
        var logits = new float[tokens.Length * model.VocabSize];
        runner.ForwardAll(tokens.AsSpan(0, PrefillLength), state, logits.AsSpan(0, PrefillLength * model.VocabSize), RwkvForwardMode.Prefill);
        for (int t = PrefillLength; t < tokens.Length; t++)
        {
            runner.Forward(tokens.AsSpan(t, 1), state, logits.AsSpan(t * model.VocabSize, model.VocabSize), RwkvForwardMode.Step);
        }
        return logits;
    }

    // The prompt in one prefill run, then the largest logit (first on ties) fed back one step at a time.
    private static int[] OurGreedy(string directory, int[] prompt, int maxTokens)
    {
        using RwkvModel model = RwkvModel.Load(directory);
        using RwkvRunner runner = model.CreateRunner();
        using RwkvState state = model.CreateState();
        var logits = new float[model.VocabSize];
        runner.Forward(prompt, state, logits, RwkvForwardMode.Prefill);
        var ids = new List<int> { TensorPrimitives.IndexOfMax(logits) };
        while (ids.Count < maxTokens)
        {
            runner.Forward([ids[^1]], state, logits, RwkvForwardMode.Step);
            ids.Add(TensorPrimitives.IndexOfMax(logits));
        }
        return [.. ids];
    }

    private static int[] Prompt()
    {
        var random = new Random(18);
        return [.. Enumerable.Range(0, PromptLength).Select(_ => random.Next(256))];
    }

    private static float[] ReadFloats(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        var values = new float[bytes.Length / sizeof(float)];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * sizeof(float)));
        }
        return values;
    }
}

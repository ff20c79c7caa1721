using Rwkv.Onnx.Export;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Parity;

/// <summary>
/// <see cref="ExportOptions.EmulatedFormat"/> rounds exactly the tensors rwkv.cpp's quantizer rounds: the FP32 fixture
/// exported with Q5_1's weights gives the logits of rwkv.cpp's own Q5_1 file of it (dequantized by our reader) exported
/// as float32. That set is every 2-D tensor but the embedding, the head and RWKV-7's LoRA factors, so it includes
/// RWKV-6's <c>time_maa_w1</c> and <c>time_decay_w1/w2</c>.
/// </summary>
[TestFixture]
public sealed class GgmlEmulatedTensorsTests
{
    private readonly ScratchRoot _root = new("rwkv-ggml-tensors-");

    [OneTimeSetUp]
    public void Create() => _root.Create();

    [OneTimeTearDown]
    public void Delete() => _root.Delete();

    // Same weights, same float32 arithmetic: measured ≤ 4e-6 on all five; a tensor rounded on one side only moves
    // logits by 1e-3 or more (RWKV-6 without its LoRA factors: 0.02).
    [TestCase("4v0-660K", null)]
    [TestCase("5v1-730K", 1e-5f)]
    [TestCase("5v2-730K", 1e-5f)]
    [TestCase("6v0-1m", null)]
    [TestCase("7v0-834K", null)]
    public void Q5_1Weights_MatchRwkvCppsQ5_1File(string model, float? groupNormEpsilon)
    {
        string emulated = Path.Combine(_root.Path, $"{model}-emulated");
        string file = Path.Combine(_root.Path, $"{model}-file");
        RwkvExporter.Export(SharedFixtures.RwkvCppModel(model, "FP32"), emulated, new ExportOptions
        {
            GroupNormEpsilon = groupNormEpsilon,
            EmulatedFormat = EmulatedBlockFormat.Q5_1,
            EmulatedArithmetic = EmulatedArithmetic.WeightsOnly,
        });
        RwkvExporter.Export(SharedFixtures.RwkvCppModel(model, "Q5_1"), file, new ExportOptions { GroupNormEpsilon = groupNormEpsilon });
        int[] tokens = [.. File.ReadAllBytes(Path.Combine(SharedFixtures.FixturesDirectory, "README.md")).Take(40).Select(b => (int)b)];
        float[] a = Logits(emulated, tokens), b = Logits(file, tokens);
        float maxError = a.Zip(b, (x, y) => MathF.Abs(x - y)).Max();
        TestContext.Out.WriteLine($"{model}: max |Δlogit| {maxError:G3}");
        Assert.That(maxError, Is.LessThanOrEqualTo(1e-4f));
    }

    private static float[] Logits(string directory, int[] tokens)
    {
        using RwkvModel model = RwkvModel.Load(directory);
        using RwkvRunner runner = model.CreateRunner();
        using RwkvState state = model.CreateState();
        var logits = new float[tokens.Length * model.VocabSize];
        runner.ForwardAll(tokens, state, logits, RwkvForwardMode.Step);
        return logits;
    }
}

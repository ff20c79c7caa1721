using Microsoft.ML.OnnxRuntime;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.RandomCheckpoints;
using Rwkv.Onnx.Tests.Fixtures;
using Rwkv.Onnx.Tests.Parity;

namespace Rwkv.Onnx.Tests.Export;

/// <summary>
/// The <c>--target genai</c> graphs driven as onnxruntime-genai drives them (Rwkv.Onnx.Genai.Tests runs genai itself):
/// every packed state tensor starts at zero, the first call runs prefill.onnx, each later token step.onnx with the
/// presents fed back as pasts.
/// </summary>
public sealed class GenaiStatePackingTests
{
    private readonly ScratchRoot _scratch = new("rwkv-genai-packing-");

    [OneTimeSetUp]
    public void Create() => _scratch.Create();

    [OneTimeTearDown]
    public void Delete() => _scratch.Delete();

    /// <summary>
    /// RWKV-4's running maximum pp must start at −1e30, genai starts it at 0. With a bonus u = −200 the first token's
    /// weight exp(u + k − max(pp, u + k)) is exp(−200 − ...), 0 in float32, when pp starts at 0, and the WKV is 0/0; from
    /// −1e30 it is 1. Only an export that maps genai's zero to the true initial value gives finite logits here.
    /// </summary>
    [Test]
    public void Rwkv4_FromZeroPackedState_GivesOurLogitsFromTheFirstToken()
    {
        var written = new List<CanonicalTensor>();
        RandomCheckpoint.WriteRwkv4(Path.Combine(_scratch.Path, "base.bin"), layers: 2, embd: 64, vocab: 256, ffn: 128, seed: 41, written: written);
        string checkpoint = Path.Combine(_scratch.Path, "large-negative-bonus.safetensors");
        SafetensorsWriter.Write(checkpoint, written.Select(t => new SafetensorsWriter.Tensor(t.Name, TensorDType.Float32, t.Shape,
            t.Name.EndsWith(".att.time_first", StringComparison.Ordinal) ? Array.ConvertAll(t.Data, _ => -200f) : t.Data)));
        string ours = Path.Combine(_scratch.Path, "rwkv");
        string genai = Path.Combine(_scratch.Path, "genai");
        RwkvExporter.Export(checkpoint, ours, new ExportOptions());
        RwkvExporter.Export(checkpoint, genai, new ExportOptions { Target = ExportTarget.Genai });

        int[] tokens = [72, 101, 108, 108, 111, 44, 32, 119];
        using RwkvModel model = RwkvModel.Load(ours);
        using RwkvRunner runner = model.CreateRunner();
        using RwkvState state = model.CreateState();
        var expected = new float[tokens.Length * model.VocabSize];
        runner.ForwardAll(tokens, state, expected, RwkvForwardMode.Step);
        Assert.That(expected.All(float.IsFinite), "our logits are finite");

        float[][] logits = RunAsGenai(genai, tokens, promptLength: 1); // the first token through prefill.onnx, as genai does
        for (int i = 0; i < tokens.Length; i++)
        {
            Assert.That(logits[i], Is.EqualTo(expected.AsSpan(i * model.VocabSize, model.VocabSize).ToArray()).Within(1e-5f), $"logits after token {i}");
        }
    }

    /// <summary>
    /// A state-tuned model (RWKV-PEFT's <c>blocks.{i}.att.time_state</c>) exported for genai with the time state baked in:
    /// from genai's zeroed state, a prompt through prefill.onnx then one token at a time through step.onnx gives our
    /// runtime's logits started from the same file (<see cref="RwkvState.FromTimeState"/>) at every position; without
    /// the bake the graphs start from zero, which the last assertion shows is far off.
    /// </summary>
    [TestCaseSource(nameof(TimeStateFixtures))]
    public void TimeState_FromZeroPackedState_GivesOurLogitsFromTheTunedState(ParityFixture fixture)
    {
        string checkpoint = SharedFixtures.RwkvCppModel(fixture.Model, "FP32");
        string ours = Path.Combine(_scratch.Path, $"{fixture.Model}-rwkv");
        string genai = Path.Combine(_scratch.Path, $"{fixture.Model}-genai");
        string pth = Path.Combine(_scratch.Path, $"{fixture.Model}-time-state.pth");
        RwkvExporter.Export(checkpoint, ours, new ExportOptions { GroupNormEpsilon = fixture.GroupNormEpsilon });
        using RwkvModel model = RwkvModel.Load(ours);
        WriteRandomTimeState(model, pth, seed: 5);
        RwkvExporter.Export(checkpoint, genai, new ExportOptions { GroupNormEpsilon = fixture.GroupNormEpsilon, Target = ExportTarget.Genai, TimeStatePath = pth });

        int[] tokens = [72, 101, 108, 108, 111, 44, 32, 119];
        const int PromptLength = 3;
        using RwkvRunner runner = model.CreateRunner();
        using RwkvCheckpoint timeState = RwkvCheckpoint.Open(pth);
        using RwkvState tuned = RwkvState.FromTimeState(model, timeState);
        var expected = new float[tokens.Length * model.VocabSize];
        runner.ForwardAll(tokens, tuned, expected, RwkvForwardMode.Step);
        using RwkvState zero = model.CreateState();
        var fromZero = new float[tokens.Length * model.VocabSize];
        runner.ForwardAll(tokens, zero, fromZero, RwkvForwardMode.Step);

        float[][] logits = RunAsGenai(genai, tokens, PromptLength);
        Assert.Multiple(() =>
        {
            for (int i = PromptLength - 1; i < tokens.Length; i++)
            {
                Assert.That(logits[i - (PromptLength - 1)], Is.EqualTo(expected.AsSpan(i * model.VocabSize, model.VocabSize).ToArray()).Within(1e-5f), $"logits after token {i}");
            }
            float[] last = fromZero.AsSpan((PromptLength - 1) * model.VocabSize, model.VocabSize).ToArray();
            Assert.That(logits[0].Zip(last, (a, b) => Math.Abs(a - b)).Max(), Is.GreaterThan(1e-2f), "the time state changes the logits");
        });
    }

    /// <summary>The tiny fixtures whose state tuning fills a matrix state (RWKV-5.1, 5.2, 6, 7).</summary>
    public static IEnumerable<ParityFixture> TimeStateFixtures => FixtureParityTests.Fixtures.Where(f => !f.Model.StartsWith('4'));

    // Random, asymmetric time_state matrices for every layer, in RWKV-PEFT's .pth form.
    private static void WriteRandomTimeState(RwkvModel model, string path, int seed)
    {
        var random = new Random(seed);
        RwkvArchitectureInfo a = model.Manifest.Architecture;
        var views = new List<TorchZipWriter.TensorView>();
        var storages = new Dictionary<string, TorchZipWriter.Storage>();
        for (int layer = 0; layer < a.Layers; layer++)
        {
            string key = layer.ToString(System.Globalization.CultureInfo.InvariantCulture);
            float[] data = [.. Enumerable.Range(0, a.Heads * a.HeadSize * a.HeadSize).Select(_ => (float)((random.NextDouble() * 2) - 1))];
            storages[key] = new TorchZipWriter.Storage(TensorDType.Float32, data);
            views.Add(TorchZipWriter.TensorView.Contiguous($"blocks.{layer}.att.time_state", key, a.Heads, a.HeadSize, a.HeadSize));
        }
        TorchZipWriter.WriteStateDict(path, views, storages);
    }

    // Drives a genai export as genai does: every packed state zero, the first promptLength tokens through prefill.onnx
    // in one call, then each later token through step.onnx with the presents fed back. Returns the logits of the
    // prompt's last token, then of each later one.
    private static float[][] RunAsGenai(string directory, int[] tokens, int promptLength)
    {
        using var prefill = new InferenceSession(Path.Combine(directory, RwkvContract.PrefillGraphFile));
        using var step = new InferenceSession(Path.Combine(directory, RwkvContract.StepGraphFile));
        Dictionary<string, float[]> past = prefill.InputMetadata.Where(i => i.Key != RwkvContract.TokensInput)
            .ToDictionary(i => i.Key, i => new float[i.Value.Dimensions.Skip(1).Aggregate(1, (a, b) => a * b)]);
        var logits = new List<float[]>();
        for (int start = 0; start < tokens.Length; start += start == 0 ? promptLength : 1)
        {
            InferenceSession session = start == 0 ? prefill : step;
            long[] chunk = [.. tokens.Skip(start).Take(start == 0 ? promptLength : 1).Select(t => (long)t)];
            var inputs = new List<NamedOnnxValue> { NamedOnnxValue.CreateFromTensor(RwkvContract.TokensInput,
                new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<long>(chunk, [1, chunk.Length])) };
            inputs.AddRange(past.Select(p => NamedOnnxValue.CreateFromTensor(p.Key,
                new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>(p.Value, [1, .. session.InputMetadata[p.Key].Dimensions.Skip(1)]))));
            using IDisposableReadOnlyCollection<DisposableNamedOnnxValue> outputs = session.Run(inputs);
            logits.Add([.. outputs.Single(o => o.Name == RwkvContract.LogitsOutput).AsEnumerable<float>()]);
            foreach (string name in past.Keys.ToArray())
            {
                past[name] = [.. outputs.Single(o => o.Name == name.Replace("past_key_values.", "present.", StringComparison.Ordinal)).AsEnumerable<float>()];
            }
        }
        return [.. logits];
    }
}

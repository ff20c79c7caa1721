using Microsoft.ML.OnnxRuntimeGenAI;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.RandomCheckpoints;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Genai.Tests;

/// <summary>
/// Genai starts every state at zero; RWKV-4's running maximum pp must start at −1e30. With a bonus u = −200 the first
/// token's weight exp(u + k − max(pp, u + k)) is exp(−200 − ...) = 0 in float32 when pp starts at 0, and the WKV is 0/0;
/// from −1e30 it is 1. So only an export that maps genai's zero to the true initial value gives finite logits here.
/// </summary>
[NonParallelizable]
public sealed class GenaiInitialStateTests
{
    private readonly ScratchRoot _scratch = new("rwkv-genai-initial-");

    [OneTimeSetUp]
    public void Create() => _scratch.Create();

    [OneTimeTearDown]
    public void Delete() => _scratch.Delete();

    [Test]
    public void Rwkv4_FromGenaisZeroState_GivesOurLogitsFromTheFirstToken()
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

        using var genaiModel = new Model(genai);
        using var parameters = new GeneratorParams(genaiModel);
        using var generator = new Generator(genaiModel, parameters);
        for (int i = 0; i < tokens.Length; i++)
        {
            generator.AppendTokens([tokens[i]]);
            using Microsoft.ML.OnnxRuntimeGenAI.Tensor logits = generator.GetOutput("logits");
            Assert.That(logits.GetData<float>().ToArray(), Is.EqualTo(expected.AsSpan(i * model.VocabSize, model.VocabSize).ToArray()).Within(1e-5f),
                $"logits after token {i}");
        }
    }
}

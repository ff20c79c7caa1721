using Microsoft.ML.OnnxRuntime;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.RandomCheckpoints;
using Rwkv.Onnx.Tests.Fixtures;

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

        using var prefill = new InferenceSession(Path.Combine(genai, RwkvContract.PrefillGraphFile));
        using var step = new InferenceSession(Path.Combine(genai, RwkvContract.StepGraphFile));
        Dictionary<string, float[]> past = prefill.InputMetadata.Where(i => i.Key != RwkvContract.TokensInput)
            .ToDictionary(i => i.Key, i => new float[i.Value.Dimensions.Skip(1).Aggregate(1, (a, b) => a * b)]);
        for (int i = 0; i < tokens.Length; i++)
        {
            InferenceSession session = i == 0 ? prefill : step;
            var inputs = new List<NamedOnnxValue> { NamedOnnxValue.CreateFromTensor(RwkvContract.TokensInput,
                new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<long>(new long[] { tokens[i] }, [1, 1])) };
            inputs.AddRange(past.Select(p => NamedOnnxValue.CreateFromTensor(p.Key,
                new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>(p.Value, [1, .. session.InputMetadata[p.Key].Dimensions.Skip(1)]))));
            using IDisposableReadOnlyCollection<DisposableNamedOnnxValue> outputs = session.Run(inputs);
            float[] logits = [.. outputs.Single(o => o.Name == RwkvContract.LogitsOutput).AsEnumerable<float>()];
            Assert.That(logits, Is.EqualTo(expected.AsSpan(i * model.VocabSize, model.VocabSize).ToArray()).Within(1e-5f), $"logits after token {i}");
            foreach (string name in past.Keys.ToArray())
            {
                past[name] = [.. outputs.Single(o => o.Name == name.Replace("past_key_values.", "present.", StringComparison.Ordinal)).AsEnumerable<float>()];
            }
        }
    }
}

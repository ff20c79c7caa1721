using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.ML.OnnxRuntimeGenAI;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Genai.Tests;

/// <summary>
/// A state-tuned model (RWKV-PEFT's <c>blocks.{i}.att.time_state</c>) exported with <c>--time-state</c> and run by
/// onnxruntime-genai itself, which starts every state at zero: its logits are our runtime's started from the same file
/// (<see cref="RwkvState.FromTimeState"/>), after the prompt and after each later token.
/// </summary>
[NonParallelizable]
public sealed class GenaiTimeStateTests
{
    private readonly ScratchRoot _scratch = new("rwkv-genai-time-state-");

    [OneTimeSetUp]
    public void Create() => _scratch.Create();

    [OneTimeTearDown]
    public void Delete() => _scratch.Delete();

    // RWKV-5.2 (rwkv.cpp's group-norm epsilon) and RWKV-7: both versions' matrix state, one layout.
    [TestCase("5v2-730K", 1e-5f)]
    [TestCase("7v0-834K", null)]
    public void TeacherForcedLogits_FromTheTunedState_MatchOursFromTheSameFile(string fixture, float? groupNormEpsilon)
    {
        string checkpoint = SharedFixtures.RwkvCppModel(fixture, "FP32");
        string ours = Path.Combine(_scratch.Path, $"{fixture}-rwkv");
        string genai = Path.Combine(_scratch.Path, $"{fixture}-genai");
        string timeState = Path.Combine(_scratch.Path, $"{fixture}-time-state.safetensors");
        RwkvExporter.Export(checkpoint, ours, new ExportOptions { GroupNormEpsilon = groupNormEpsilon });
        using RwkvModel model = RwkvModel.Load(ours);
        WriteRandomTimeState(model.Manifest.Architecture, timeState, seed: 9);
        RwkvExporter.Export(checkpoint, genai, new ExportOptions { GroupNormEpsilon = groupNormEpsilon, Target = ExportTarget.Genai, TimeStatePath = timeState });

        int[] tokens = [.. "in the beginning was the word"u8.ToArray().Select(b => (int)b)];
        const int Prompt = 20; // crosses a 16-token WKV chunk of RWKV-5's prefill graph
        var expected = new float[tokens.Length * model.VocabSize];
        using (RwkvRunner runner = model.CreateRunner())
        using (RwkvCheckpoint file = RwkvCheckpoint.Open(timeState))
        using (RwkvState state = RwkvState.FromTimeState(model, file))
        {
            runner.ForwardAll(tokens.AsSpan(0, Prompt), state, expected.AsSpan(0, Prompt * model.VocabSize), RwkvForwardMode.Prefill);
            runner.ForwardAll(tokens.AsSpan(Prompt), state, expected.AsSpan(Prompt * model.VocabSize), RwkvForwardMode.Step);
        }

        using var genaiModel = new Model(genai);
        using var parameters = new GeneratorParams(genaiModel);
        using var generator = new Generator(genaiModel, parameters);
        generator.AppendTokens(tokens.AsSpan(0, Prompt));
        Assert.That(Logits(generator), Is.EqualTo(expected.AsSpan((Prompt - 1) * model.VocabSize, model.VocabSize).ToArray()).Within(1e-5f), "logits after the prompt");
        for (int i = Prompt; i < tokens.Length; i++)
        {
            generator.AppendTokens([tokens[i]]);
            Assert.That(Logits(generator), Is.EqualTo(expected.AsSpan(i * model.VocabSize, model.VocabSize).ToArray()).Within(1e-5f), $"logits after token {i}");
        }
    }

    private static float[] Logits(Generator generator)
    {
        using Microsoft.ML.OnnxRuntimeGenAI.Tensor logits = generator.GetOutput("logits");
        return logits.GetData<float>().ToArray();
    }

    // Random, asymmetric blocks.{i}.att.time_state [H, N, N] for every layer, as a float32 safetensors file: an 8-byte
    // little-endian header length, the JSON header padded with spaces to a multiple of 8, then the data.
    private static void WriteRandomTimeState(RwkvArchitectureInfo a, string path, int seed)
    {
        var random = new Random(seed);
        int count = a.Heads * a.HeadSize * a.HeadSize;
        var header = new Dictionary<string, object>();
        var data = new List<float>();
        for (int layer = 0; layer < a.Layers; layer++)
        {
            header[$"blocks.{layer}.att.time_state"] = new Dictionary<string, object>
            {
                ["dtype"] = "F32",
                ["shape"] = new[] { a.Heads, a.HeadSize, a.HeadSize },
                ["data_offsets"] = new[] { data.Count * 4L, (data.Count + count) * 4L },
            };
            data.AddRange(Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() * 2) - 1)));
        }
        string json = JsonSerializer.Serialize(header);
        json = json.PadRight((json.Length + 7) / 8 * 8);
        using FileStream file = File.Create(path);
        file.Write(BitConverter.GetBytes((long)Encoding.UTF8.GetByteCount(json)));
        file.Write(Encoding.UTF8.GetBytes(json));
        file.Write(MemoryMarshal.AsBytes(data.ToArray().AsSpan()));
    }
}

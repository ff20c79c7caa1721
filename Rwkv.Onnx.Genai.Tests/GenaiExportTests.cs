using System.Numerics.Tensors;
using System.Text;
using Microsoft.Extensions.AI;
using Microsoft.ML.OnnxRuntimeGenAI;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Genai.Tests;

/// <summary>A tiny rwkv.cpp fixture exported for genai, with the options that make ours reproduce rwkv.cpp.</summary>
/// <param name="Model">The fixture name, e.g. <c>7v0-834K</c>.</param>
/// <param name="DType">The weight type of both exports.</param>
/// <param name="GroupNormEpsilon">The ln_x epsilon the model was made with (rwkv.cpp's 1e-5 for RWKV-5), or null.</param>
public sealed record GenaiFixture(string Model, WeightDType DType, float? GroupNormEpsilon)
{
    public override string ToString() => $"{Model} {DType}";
}

/// <summary>
/// Each tiny fixture exported with <c>--target genai</c> and run by onnxruntime-genai 0.20.0 itself (no code of ours in
/// the loop), against the same checkpoint exported for and run by our runtime: teacher-forced logits at every position,
/// 200 greedy tokens, and genai's <see cref="IChatClient"/>.
/// </summary>
[TestFixtureSource(nameof(Fixtures))]
[NonParallelizable]
public sealed class GenaiExportTests(GenaiFixture fixture)
{
    public static readonly GenaiFixture[] Fixtures =
    [
        new("4v0-660K", WeightDType.Float32, null),
        new("5v1-730K", WeightDType.Float32, 1e-5f),
        new("5v2-730K", WeightDType.Float32, 1e-5f),
        new("6v0-1m", WeightDType.Float32, null),
        new("7v0-834K", WeightDType.Float32, null),
        new("7v0-834K", WeightDType.Int8, null),
        new("4v0-660K", WeightDType.Int8, null),
        new("5v2-730K", WeightDType.Float16, 1e-5f),
        new("6v0-1m", WeightDType.Int4, null),
    ];

    // Text the tiny byte-level models were trained on is English; the prompt is long enough for the prefill graph to
    // cross two WKV chunks (16 and 32 tokens) and short enough to keep the test quick.
    private const string Prompt = "\"in the beginning was the word, and the word was with God; all things were made by it.";

    private readonly ScratchRoot _scratch = new("rwkv-genai-tests-");
    private string _ours = "";
    private string _genai = "";

    [OneTimeSetUp]
    public void Export()
    {
        _scratch.Create();
        string checkpoint = SharedFixtures.RwkvCppModel(fixture.Model, "FP32");
        _ours = Path.Combine(_scratch.Path, "rwkv");
        _genai = Path.Combine(_scratch.Path, "genai");
        RwkvExporter.Export(checkpoint, _ours, Options(ExportTarget.Rwkv));
        RwkvExporter.Export(checkpoint, _genai, Options(ExportTarget.Genai));
    }

    [OneTimeTearDown]
    public void Delete() => _scratch.Delete();

    private ExportOptions Options(ExportTarget target) =>
        new() { WeightDType = fixture.DType, GroupNormEpsilon = fixture.GroupNormEpsilon, Target = target };

    private static int[] Bytes(string text) => [.. Encoding.UTF8.GetBytes(text).Select(b => (int)b)];

    [Test]
    public void TeacherForcedLogits_OneTokenPerCall_MatchOursAtEveryPosition()
    {
        int[] tokens = Bytes(Prompt);
        float[][] ours = OurLogitsAfterEachToken(tokens);

        using var model = new Model(_genai);
        using var parameters = new GeneratorParams(model);
        using var generator = new Generator(model, parameters);
        for (int i = 0; i < tokens.Length; i++)
        {
            generator.AppendTokens([tokens[i]]); // the first call runs the prefill graph, the others the step graph
            Assert.That(GenaiLogits(generator), Is.EqualTo(ours[i]).Within(1e-5f), $"logits after token {i}");
        }
        if (fixture.DType == WeightDType.Float32)
        {
            // Independent of both runtimes: rwkv.cpp's logits after "in (RWKV-4's first token needs pp = -1e30, not genai's 0).
            using var fresh = new Generator(model, parameters);
            fresh.AppendTokens(SharedFixtures.PromptTokens);
            Assert.That(GenaiLogits(fresh), Is.EqualTo(SharedFixtures.ExpectedLogits(fixture.Model)).Within(1e-5f));
        }
    }

    [Test]
    public void TeacherForcedLogits_PromptInOneCall_MatchOursThereAndAfter()
    {
        int[] tokens = Bytes(Prompt);
        int prompt = 40;
        // Ours the same way: the prompt through the prefill graph, then the step graph (int8 graphs quantize activations
        // per call, so a prefill and 40 steps differ by more than 1e-5).
        float[][] ours = OurLogitsAfterEachToken(tokens, prefill: prompt);

        using var model = new Model(_genai);
        using var parameters = new GeneratorParams(model);
        using var generator = new Generator(model, parameters);
        generator.AppendTokens(tokens.AsSpan(0, prompt));
        Assert.That(GenaiLogits(generator), Is.EqualTo(ours[prompt - 1]).Within(1e-5f), "logits after the prompt");
        for (int i = prompt; i < tokens.Length; i++)
        {
            generator.AppendTokens([tokens[i]]);
            Assert.That(GenaiLogits(generator), Is.EqualTo(ours[i]).Within(1e-5f), $"logits after token {i}");
        }
    }

    [Test]
    public void Greedy200Tokens_AreOurs()
    {
        const int Count = 200;
        int[] prompt = Bytes(Prompt);
        int[] ours = OurGreedy(prompt, Count);

        using var model = new Model(_genai);
        using var parameters = new GeneratorParams(model);
        parameters.SetSearchOption("max_length", prompt.Length + Count);
        using var generator = new Generator(model, parameters);
        generator.AppendTokens(prompt);
        while (!generator.IsDone())
        {
            generator.GenerateNextToken();
        }
        int[] genai = generator.GetSequence(0)[prompt.Length..].ToArray();
        Assert.That(genai, Is.EqualTo(ours));
    }

    [Test]
    public async Task ChatClient_StreamingAndNot_GiveOurGreedyReply()
    {
        const int Count = 48;
        const string Message = "where is the word?";
        // The chat template genai applies (tokenizer_config.json) is ours: "User: {message}\n\nAssistant:".
        string formatted = Generation.ChatTemplate.World.FormatTurn(Message);
        // Genai hands text out as C strings, so a NUL byte (which the RWKV-4 fixture, its FFN zeroed, emits every other
        // token) comes out as nothing: the tokens are the same (Greedy200Tokens_AreOurs), the text lacks the NULs.
        string ours = Encoding.UTF8.GetString([.. OurGreedy(Bytes(formatted), Count).Select(t => (byte)t)]).Replace("\0", "", StringComparison.Ordinal);

        using var client = new OnnxRuntimeGenAIChatClient(_genai);
        var options = new ChatOptions { MaxOutputTokens = Count };
        var streamed = new StringBuilder();
        await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, Message)], options))
        {
            streamed.Append(update.Text);
        }
        ChatResponse whole = await client.GetResponseAsync([new ChatMessage(ChatRole.User, Message)], options);
        Assert.Multiple(() =>
        {
            Assert.That(streamed.ToString(), Is.EqualTo(ours));
            Assert.That(whole.Text, Is.EqualTo(ours));
            Assert.That(ours, Has.Length.GreaterThan(Count / 4), "a reply long enough to compare");
        });
    }

    private static float[] GenaiLogits(Generator generator)
    {
        using Microsoft.ML.OnnxRuntimeGenAI.Tensor logits = generator.GetOutput("logits");
        Assert.That(logits.Shape(), Is.EqualTo(new long[] { 1, 1, 256 }));
        return logits.GetData<float>().ToArray();
    }

    // Logits after each token; the first `prefill` tokens go through the prefill graph in one call (only the last of
    // their rows is then comparable with genai's), the others through the step graph one by one.
    private float[][] OurLogitsAfterEachToken(int[] tokens, int prefill = 0)
    {
        using RwkvModel model = RwkvModel.Load(_ours);
        using RwkvRunner runner = model.CreateRunner();
        using RwkvState state = model.CreateState();
        var logits = new float[tokens.Length * model.VocabSize];
        if (prefill > 0)
        {
            runner.ForwardAll(tokens.AsSpan(0, prefill), state, logits.AsSpan(0, prefill * model.VocabSize), RwkvForwardMode.Prefill);
        }
        runner.ForwardAll(tokens.AsSpan(prefill), state, logits.AsSpan(prefill * model.VocabSize), RwkvForwardMode.Step);
        return [.. logits.Chunk(model.VocabSize)];
    }

    private int[] OurGreedy(int[] prompt, int count)
    {
        using RwkvModel model = RwkvModel.Load(_ours);
        using RwkvRunner runner = model.CreateRunner();
        using RwkvState state = model.CreateState();
        var logits = new float[model.VocabSize];
        runner.Forward(prompt, state, logits);
        var generated = new int[count];
        for (int i = 0; i < count; i++)
        {
            generated[i] = TensorPrimitives.IndexOfMax(logits);
            if (i + 1 < count)
            {
                runner.Forward([generated[i]], state, logits);
            }
        }
        return generated;
    }
}

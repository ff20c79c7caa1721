using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Sampling;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Generation;

[TestFixture]
public sealed class TextGeneratorStopAndStreamTests
{
    private const string Prompt = "\"in the";
    private static readonly ByteTokenizer s_bytes = ByteTokenizer.Create();

    private static RwkvModel Model => GenerationTestModels.Model;

    private static TextGenerator Generator => new(Model, s_bytes);

    // The greedy continuation of the prompt, from a hand-written step loop (independent of TextGenerator).
    private static List<int> Reference(int count) => GenerationTestModels.GreedyTokens(s_bytes.EncodeToIds(Prompt), count);

    [Test]
    public void Generate_StopStringAcrossTokens_EndsBeforeItAndNeverStreamsIt()
    {
        // Greedy output of the tiny model repeats " the", so sample (seeded) for varied text.
        static GenerationOptions Options(params string[] stops) => new()
        {
            MaxTokens = 80,
            StopStrings = stops,
            Sampling = new SamplingSettings { Temperature = 1f, Seed = 11 },
        };
        GenerationResult free = Generator.Generate(Prompt, Options());
        string text = free.Text;
        // A three-character stop string (three byte tokens) from inside the text, at its first occurrence.
        int at = Enumerable.Range(5, 60).First(i => text.IndexOf(text.Substring(i, 3), StringComparison.Ordinal) == i);
        string stop = text.Substring(at, 3);

        // The tokens up to the one whose text completes the stop string.
        StreamingDecoder decoder = s_bytes.CreateStreamingDecoder();
        string decoded = "";
        int needed = 0;
        while (!decoded.Contains(stop, StringComparison.Ordinal))
        {
            decoded += decoder.Append(free.Tokens[needed++]);
        }

        var pieces = new List<string>();
        GenerationResult result = Generator.Generate(Prompt, Options("never appears \u0001", stop), pieces.Add);

        Assert.Multiple(() =>
        {
            Assert.That(result.StopReason, Is.EqualTo(GenerationStopReason.StopString));
            Assert.That(result.Text, Is.EqualTo(text[..at]));
            Assert.That(string.Concat(pieces), Is.EqualTo(result.Text));
            Assert.That(result.Tokens, Is.EqualTo(free.Tokens.Take(needed)), "the stop string's tokens were generated");
        });
    }

    [Test]
    public void Generate_StopToken_EndsBeforeItAndLeavesItOut()
    {
        List<int> reference = Reference(40);
        int index = Enumerable.Range(3, 30).First(i => reference.IndexOf(reference[i]) == i);

        GenerationResult result = Generator.Generate(Prompt, new GenerationOptions { MaxTokens = 40, StopTokens = [reference[index]] });

        Assert.Multiple(() =>
        {
            Assert.That(result.StopReason, Is.EqualTo(GenerationStopReason.StopToken));
            Assert.That(result.Tokens, Is.EqualTo(reference.Take(index)));
            Assert.That(result.Text, Is.EqualTo(s_bytes.Decode(reference.Take(index))));
        });
    }

    [Test]
    public void Generate_MaxTokens_ReportsIt()
    {
        GenerationResult result = Generator.Generate(Prompt, new GenerationOptions { MaxTokens = 7 });
        Assert.Multiple(() =>
        {
            Assert.That(result.StopReason, Is.EqualTo(GenerationStopReason.MaxTokens));
            Assert.That(result.Tokens, Is.EqualTo(Reference(7)));
        });
    }

    [Test]
    public void Generate_WithState_LeavesStateCoveringPromptAndGeneratedTokensButNotTheStopToken()
    {
        List<int> reference = Reference(20);
        int index = Enumerable.Range(3, 15).First(i => reference.IndexOf(reference[i]) == i);
        using RwkvState state = Model.CreateState();

        GenerationResult result = Generator.Generate(Prompt, state, new GenerationOptions { MaxTokens = 20, StopTokens = [reference[index]] });

        // The next logits from the state equal those of feeding prompt + generated tokens + one more token from scratch.
        List<int> history = [.. s_bytes.EncodeToIds(Prompt), .. result.Tokens, 65];
        float[] expected = GenerationTestModels.StepLogits(history)[^1];
        float[] actual = new float[Model.VocabSize];
        using (RwkvRunner runner = Model.CreateRunner())
        {
            runner.Forward([65], state, actual);
        }
        Assert.That(actual, Is.EqualTo(expected).Within(1e-4f));
    }

    [Test]
    public void Generate_TwiceOnOneState_EqualsOneGenerationOverTheJoinedText()
    {
        var options = new GenerationOptions { MaxTokens = 12 };
        using RwkvState state = Model.CreateState();
        GenerationResult first = Generator.Generate("The cat", state, options);
        GenerationResult second = Generator.Generate(" and", state, options);

        List<int> joined = [.. s_bytes.EncodeToIds("The cat"), .. first.Tokens, .. s_bytes.EncodeToIds(" and")];
        Assert.That(second.Tokens, Is.EqualTo(GenerationTestModels.GreedyTokens(joined, 12)));
    }

    [Test]
    public async Task GenerateAsync_StreamsTheSameTextAsGenerate()
    {
        var options = new GenerationOptions { MaxTokens = 40, StopStrings = ["\n\n"] };
        GenerationResult sync = Generator.Generate(Prompt, options);
        var pieces = new List<string>();
        await foreach (string piece in Generator.GenerateAsync(Prompt, options))
        {
            pieces.Add(piece);
        }
        Assert.Multiple(() =>
        {
            Assert.That(string.Concat(pieces), Is.EqualTo(sync.Text));
            Assert.That(pieces, Has.Count.GreaterThan(1));
            Assert.That(pieces, Has.None.Empty);
        });
    }

    [Test]
    public async Task GenerateAsync_WithState_AdvancesIt()
    {
        using RwkvState state = Model.CreateState();
        await foreach (string _ in Generator.GenerateAsync(Prompt, state, new GenerationOptions { MaxTokens = 5 }))
        {
        }
        List<int> history = [.. s_bytes.EncodeToIds(Prompt), .. Reference(5), 65];
        float[] actual = new float[Model.VocabSize];
        using (RwkvRunner runner = Model.CreateRunner())
        {
            runner.Forward([65], state, actual);
        }
        Assert.That(actual, Is.EqualTo(GenerationTestModels.StepLogits(history)[^1]).Within(1e-4f));
    }

    [Test]
    public void Generate_CancelledWithAState_ReportsTheTokensTheStateHasSeen()
    {
        using RwkvState state = Model.CreateState();
        using var cancellation = new CancellationTokenSource();
        int pieces = 0;
        GenerationCanceledException? stopped = Assert.Throws<GenerationCanceledException>(() => Generator.Generate(Prompt, state,
            new GenerationOptions { MaxTokens = 50 }, _ =>
            {
                if (++pieces == 3)
                {
                    cancellation.Cancel();
                }
            }, cancellation.Token));

        List<int> history = [.. s_bytes.EncodeToIds(Prompt), .. Reference(3), 65];
        float[] actual = new float[Model.VocabSize];
        using (RwkvRunner runner = Model.CreateRunner())
        {
            runner.Forward([65], state, actual);
        }
        Assert.Multiple(() =>
        {
            Assert.That(stopped!.GeneratedTokens, Is.EqualTo(Reference(3)));
            Assert.That(stopped.Text, Is.EqualTo(s_bytes.Decode(Reference(3))));
            Assert.That(actual, Is.EqualTo(GenerationTestModels.StepLogits(history)[^1]).Within(1e-4f), "the state covers the prompt and those tokens");
        });
    }

    [Test]
    public void GenerateAsync_Cancelled_ThrowsOperationCanceled()
    {
        using var cancellation = new CancellationTokenSource();
        int received = 0;
        Assert.That(async () =>
        {
            await foreach (string _ in Generator.GenerateAsync(Prompt, new GenerationOptions { MaxTokens = 1000 }, cancellation.Token))
            {
                if (++received == 3)
                {
                    await cancellation.CancelAsync();
                }
            }
        }, Throws.InstanceOf<OperationCanceledException>());
        Assert.That(received, Is.EqualTo(3));
    }

    [Test]
    public void GenerateAsync_EmptyPrompt_ThrowsAtTheCall()
    {
        Assert.That(() => Generator.GenerateAsync(""), Throws.ArgumentException.With.Property("ParamName").EqualTo("prompt"));
    }

    [Test]
    public void Generate_SamplerWithPenalties_IsResetAndFedEveryToken()
    {
        var sampling = new SamplingSettings { Temperature = 0, PresencePenalty = 100f };
        GenerationResult first = Generator.Generate(Prompt, new GenerationOptions { MaxTokens = 20, Sampling = sampling });
        GenerationResult second = Generator.Generate(Prompt, new GenerationOptions { MaxTokens = 20, Sampling = sampling });
        Assert.Multiple(() =>
        {
            // A presence penalty of 100 forbids every repeat within a generation...
            Assert.That(first.Tokens, Is.Unique);
            // ...and the second generation starts afresh.
            Assert.That(second.Tokens, Is.EqualTo(first.Tokens));
        });
    }

    [Test]
    public void Load_OwnsTheModel()
    {
        TextGenerator generator = TextGenerator.Load(GenerationTestModels.Directory);
        GenerationResult result = generator.Generate(Prompt, new GenerationOptions { MaxTokens = 5 });
        generator.Dispose();
        Assert.Multiple(() =>
        {
            Assert.That(result.Tokens, Is.EqualTo(Reference(5)));
            Assert.That(generator.Tokenizer, Is.SameAs(s_bytes));
            Assert.That(() => generator.Model.CreateState(), Throws.TypeOf<ObjectDisposedException>());
        });
    }

    [Test]
    public void Options_InvalidStops_Throw()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => new GenerationOptions { StopStrings = [""] }, Throws.ArgumentException.With.Property("ParamName").EqualTo("StopStrings"));
            Assert.That(() => new GenerationOptions { StopTokens = [-1] }, Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("StopTokens"));
        });
    }
}

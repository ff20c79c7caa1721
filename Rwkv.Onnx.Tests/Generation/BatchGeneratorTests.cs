using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Sampling;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Generation;

[TestFixture]
public sealed class BatchGeneratorTests
{
    private static readonly ByteTokenizer s_bytes = ByteTokenizer.Create();

    private static RwkvModel Model => GenerationTestModels.Model;

    private sealed record Spec(string Prompt, int MaxTokens, int? Seed, string[] StopStrings)
    {
        // Options with this spec's settings; each run creates its own sampler from them.
        public GenerationOptions Options() => new()
        {
            MaxTokens = MaxTokens,
            StopStrings = StopStrings,
            Sampling = Seed is int seed
                ? new SamplingSettings { Temperature = 1f, TopP = 0.9f, Seed = seed, PresencePenalty = 0.2f, FrequencyPenalty = 0.2f, PenaltyDecay = 0.99f }
                : SamplingSettings.Greedy,
        };
    }

    private static GenerationResult Solo(Spec spec) => new TextGenerator(Model, s_bytes).Generate(spec.Prompt, spec.Options());

    [Test]
    public void Step_SequencesOfDifferentLengthsJoiningAndLeaving_EqualOneByOneGeneration()
    {
        Spec[] specs =
        [
            new("\"in", 5, null, []),                                    // short prompt, leaves first
            new("The quick brown fox jumps over", 30, 1, []),            // long prompt, sampled
            new("Once upon a time, there", 17, 2, []),
            new("Hello", 25, 3, []),                                     // joins after 4 steps
        ];
        GenerationResult[] expected = [.. specs.Select(Solo)];

        using var batch = new BatchGenerator(Model, s_bytes);
        var sequences = specs.Take(3).Select(s => batch.Add(s.Prompt, s.Options())).ToList();
        var sizes = new List<int>();
        for (int step = 0; batch.Active.Count > 0; step++)
        {
            if (step == 4)
            {
                sequences.Add(batch.Add(specs[3].Prompt, specs[3].Options()));
            }
            sizes.Add(batch.Active.Count);
            batch.Step();
        }

        Assert.Multiple(() =>
        {
            for (int i = 0; i < specs.Length; i++)
            {
                Assert.That(sequences[i].Result!.Tokens, Is.EqualTo(expected[i].Tokens), $"sequence {i} tokens");
                Assert.That(sequences[i].Result!.Text, Is.EqualTo(expected[i].Text), $"sequence {i} text");
                Assert.That(sequences[i].Result!.StopReason, Is.EqualTo(GenerationStopReason.MaxTokens));
            }
            // 3 at first, 4 once the last joins, then fewer as they reach their budgets.
            Assert.That(sizes.Where((size, i) => i == 0 || size != sizes[i - 1]), Is.EqualTo(new[] { 3, 4, 3, 2, 1 }));
        });
    }

    [Test]
    public void Add_TwoSequencesWithOneOptionsObject_EachGeneratesAsIfAlone()
    {
        // Seeded sampling with penalties: a sampler shared through the options would interleave the two sequences'
        // random numbers and mix their penalty counts.
        Spec first = new("The quick brown fox", 30, 8, []);
        Spec second = first with { Prompt = "Once upon a time" };
        GenerationResult[] alone = [Solo(first), Solo(second)];

        GenerationOptions shared = first.Options();
        using var batch = new BatchGenerator(Model, s_bytes);
        BatchSequence a = batch.Add(first.Prompt, shared);
        BatchSequence b = batch.Add(second.Prompt, shared);
        batch.Run();

        Assert.Multiple(() =>
        {
            Assert.That(a.Result!.Tokens, Is.EqualTo(alone[0].Tokens));
            Assert.That(b.Result!.Tokens, Is.EqualTo(alone[1].Tokens));
            Assert.That(alone[0].Tokens, Is.Not.EqualTo(alone[1].Tokens), "the prompts lead to different text");
        });
    }

    [Test]
    public void Step_StopStringAndStopToken_EndOnlyThatSequence()
    {
        // Stops taken from the solo runs, so they do occur.
        Spec free = new("The quick brown fox", 40, 5, []);
        GenerationResult freeResult = Solo(free);
        string stop = freeResult.Text.Substring(10, 2);
        Spec withStop = free with { StopStrings = [stop] };
        Spec other = new("Once upon a time", 30, 6, []);

        using var batch = new BatchGenerator(Model, s_bytes);
        var streamed = new List<string>();
        BatchSequence a = batch.Add(withStop.Prompt, withStop.Options(), streamed.Add);
        BatchSequence b = batch.Add(other.Prompt, other.Options());
        batch.Run();

        Assert.Multiple(() =>
        {
            Assert.That(a.Result!.StopReason, Is.EqualTo(GenerationStopReason.StopString));
            Assert.That(a.Result.Text, Is.EqualTo(Solo(withStop).Text));
            Assert.That(a.Result.Text, Is.EqualTo(freeResult.Text[..freeResult.Text.IndexOf(stop, StringComparison.Ordinal)]));
            Assert.That(string.Concat(streamed), Is.EqualTo(a.Result.Text));
            Assert.That(b.Result!.Tokens, Is.EqualTo(Solo(other).Tokens));
        });
    }

    [Test]
    public void Remove_TakesOneSequenceOutAndTheOthersGoOn()
    {
        Spec first = new("abc", 20, 7, []), second = new("xyz", 20, 8, []);
        using var batch = new BatchGenerator(Model, s_bytes);
        BatchSequence a = batch.Add(first.Prompt, first.Options());
        BatchSequence b = batch.Add(second.Prompt, second.Options());
        for (int i = 0; i < 6; i++)
        {
            batch.Step();
        }
        batch.Remove(a);
        batch.Run();

        Assert.Multiple(() =>
        {
            Assert.That(a.Result!.StopReason, Is.EqualTo(GenerationStopReason.Removed));
            Assert.That(a.Result.Tokens, Is.EqualTo(Solo(first).Tokens.Take(6)));
            Assert.That(b.Result!.Tokens, Is.EqualTo(Solo(second).Tokens));
            Assert.That(() => batch.Remove(a), Throws.Nothing, "removing a finished sequence does nothing");
        });
    }

    [Test]
    public void Add_WithInitialState_StartsFromACopyOfIt()
    {
        using RwkvState initial = Model.CreateState();
        using (RwkvRunner runner = Model.CreateRunner())
        {
            runner.Forward(s_bytes.EncodeToArray("A story: "), initial, new float[Model.VocabSize]);
        }
        float[] before = [.. initial.Current.SelectMany(b => b)];
        Spec spec = new("It was", 15, 9, []);

        using var batch = new BatchGenerator(Model, s_bytes);
        BatchSequence sequence = batch.Add(spec.Prompt, spec.Options(), initialState: initial);
        batch.Add("unrelated", new GenerationOptions { MaxTokens = 3 });
        batch.Run();

        using RwkvState copy = initial.Clone();
        GenerationResult solo = new TextGenerator(Model, s_bytes).Generate(spec.Prompt, copy, spec.Options());
        Assert.Multiple(() =>
        {
            Assert.That(sequence.Result!.Tokens, Is.EqualTo(solo.Tokens));
            Assert.That(initial.Current.SelectMany(b => b), Is.EqualTo(before), "the initial state is not changed");
        });
    }

    [Test]
    public async Task RunAsync_FinishesEverySequence()
    {
        using var batch = new BatchGenerator(Model, s_bytes);
        BatchSequence a = batch.Add("one", new GenerationOptions { MaxTokens = 4 });
        BatchSequence b = batch.Add("two", new GenerationOptions { MaxTokens = 9 });
        await batch.RunAsync();
        Assert.That((a.Result!.GeneratedTokenCount, b.Result!.GeneratedTokenCount, batch.Active.Count), Is.EqualTo((4, 9, 0)));
    }

    [Test]
    public void Add_EmptyPrompt_Throws()
    {
        using var batch = new BatchGenerator(Model, s_bytes);
        Assert.That(() => batch.Add(""), Throws.ArgumentException.With.Property("ParamName").EqualTo("prompt"));
    }
}

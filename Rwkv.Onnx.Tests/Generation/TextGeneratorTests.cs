using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Sampling;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Generation;

[TestFixture]
public sealed class TextGeneratorTests
{
    private static RwkvModel Model => GenerationTestModels.Model;

    [Test]
    public void Generate_Greedy_EqualsAHandWrittenStepLoop()
    {
        const string Prompt = "\"in the";
        const int Count = 30;
        var expected = new List<int>();
        using (RwkvState state = Model.CreateState())
        using (RwkvRunner runner = Model.CreateRunner())
        {
            float[] logits = new float[Model.VocabSize];
            foreach (int token in ByteTokenizer.Create().EncodeToIds(Prompt))
            {
                runner.Forward([token], state, logits, RwkvForwardMode.Step);
            }
            for (int i = 0; i < Count; i++)
            {
                int next = Array.IndexOf(logits, logits.Max());
                expected.Add(next);
                runner.Forward([next], state, logits, RwkvForwardMode.Step);
            }
        }

        var pieces = new List<string>();
        GenerationResult result = new TextGenerator(Model, ByteTokenizer.Create())
            .Generate(Prompt, new GenerationOptions { MaxTokens = Count }, pieces.Add);
        Assert.Multiple(() =>
        {
            Assert.That(result.Tokens, Is.EqualTo(expected));
            Assert.That(result.Text, Is.EqualTo(ByteTokenizer.Create().Decode(expected)));
            Assert.That(string.Concat(pieces), Is.EqualTo(result.Text));
            Assert.That(result.PromptTokenCount, Is.EqualTo(7));
            Assert.That(result.GeneratedTokenCount, Is.EqualTo(Count));
            Assert.That(result.PrefillTime, Is.GreaterThan(TimeSpan.Zero));
            Assert.That(result.DecodeTokensPerSecond, Is.GreaterThan(0));
        });
    }

    [Test]
    public void Generate_SeededSampler_IsReproducible()
    {
        var generator = new TextGenerator(Model, ByteTokenizer.Create());
        GenerationResult Run(int seed) => generator.Generate("The", new GenerationOptions
        {
            MaxTokens = 50,
            Sampling = new SamplingSettings { Temperature = 1.2f, TopP = 0.95f, Seed = seed },
        });
        IReadOnlyList<int> first = Run(3).Tokens, again = Run(3).Tokens, other = Run(4).Tokens;
        Assert.Multiple(() =>
        {
            Assert.That(again, Is.EqualTo(first));
            Assert.That(other, Is.Not.EqualTo(first));
        });
    }

    [Test]
    public void Generate_OneOptionsObjectOnTwoThreadsAtOnce_EqualsEachRunAlone()
    {
        // Sampling at temperature > 0 with a seed and penalties: a sampler shared through the options would split one
        // random sequence and one set of penalty counts between the two generations.
        static GenerationOptions Options() => new()
        {
            MaxTokens = 40,
            Sampling = new SamplingSettings { Temperature = 1f, TopP = 0.9f, Seed = 7, PresencePenalty = 0.3f, FrequencyPenalty = 0.3f, PenaltyDecay = 0.99f },
        };
        string[] prompts = ["The quick brown fox", "Once upon a time"];
        var generator = new TextGenerator(Model, ByteTokenizer.Create());
        IReadOnlyList<int>[] alone = [.. prompts.Select(prompt => generator.Generate(prompt, Options()).Tokens)];

        GenerationOptions shared = Options();
        var together = new IReadOnlyList<int>[prompts.Length];
        // Lockstep: after each piece of text a thread waits for the other, so the two interleave token by token.
        using var barrier = new Barrier(prompts.Length);
        Task[] threads = [.. prompts.Select((prompt, i) => Task.Factory.StartNew(() =>
        {
            try
            {
                together[i] = generator.Generate(prompt, shared, _ => barrier.SignalAndWait(TimeSpan.FromSeconds(10))).Tokens;
            }
            finally
            {
                barrier.RemoveParticipant();
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default))];
        Task.WaitAll(threads);

        Assert.Multiple(() =>
        {
            Assert.That(together[0], Is.EqualTo(alone[0]));
            Assert.That(together[1], Is.EqualTo(alone[1]));
            Assert.That(alone[0], Is.Not.EqualTo(alone[1]), "the prompts lead to different text");
        });
    }

    [Test]
    public void Generate_CustomSamplerFactory_CreatesOneSamplerPerGeneration()
    {
        var factory = new CountingFactory();
        var options = new GenerationOptions { MaxTokens = 6, StopAtEndOfText = false, Sampling = factory };
        var generator = new TextGenerator(Model, ByteTokenizer.Create());
        GenerationResult first = generator.Generate("abc", options);
        GenerationResult second = generator.Generate("xyz", options);
        Assert.Multiple(() =>
        {
            Assert.That(factory.Created, Is.EqualTo(2));
            // Each sampler counts from 'a' on its own: the second did not continue the first's count.
            Assert.That(first.Text, Is.EqualTo("abcdef"));
            Assert.That(second.Text, Is.EqualTo("abcdef"));
        });
    }

    [Test]
    public void Generate_SamplerFactoryReturnsNull_ThrowsNamingTheFactory()
    {
        var options = new GenerationOptions { Sampling = new NullFactory() };
        Assert.That(() => new TextGenerator(Model, ByteTokenizer.Create()).Generate("abc", options),
            Throws.InvalidOperationException.With.Message.Contains(nameof(NullFactory)));
    }

    // Chooses 'a', 'b', 'c', ... in turn, whatever the logits: a sampler with state of its own.
    private sealed class CountingSampler : ISampler
    {
        private int _next = 'a';

        public int Sample(ReadOnlySpan<float> logits) => _next++;
    }

    private sealed class CountingFactory : ISamplerFactory
    {
        public int Created { get; private set; }

        public ISampler CreateSampler()
        {
            Created++;
            return new CountingSampler();
        }
    }

    private sealed class NullFactory : ISamplerFactory
    {
        public ISampler CreateSampler() => null!;   // what a careless implementation might do
    }

    [Test]
    public void Generate_ZeroMaxTokens_OnlyPrefills()
    {
        GenerationResult result = new TextGenerator(Model, ByteTokenizer.Create()).Generate("abc", new GenerationOptions { MaxTokens = 0 });
        Assert.Multiple(() =>
        {
            Assert.That(result.Text, Is.Empty);
            Assert.That(result.Tokens, Is.Empty);
            Assert.That(result.PromptTokenCount, Is.EqualTo(3));
            Assert.That(result.DecodeTokensPerSecond, Is.Zero);
        });
    }

    [Test]
    public void Generate_EmptyPrompt_Throws()
    {
        var generator = new TextGenerator(Model, ByteTokenizer.Create());
        Assert.That(() => generator.Generate(""), Throws.ArgumentException.With.Property("ParamName").EqualTo("prompt"));
    }

    [Test]
    public void Options_NegativeMaxTokens_Throws()
    {
        Assert.That(() => new GenerationOptions { MaxTokens = -1 }, Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("MaxTokens"));
    }

    [Test]
    public void RwkvTokenizers_ByteModel_GivesTheByteTokenizer()
    {
        Assert.That(RwkvTokenizers.Load(Model), Is.SameAs(ByteTokenizer.Create()));
    }
}

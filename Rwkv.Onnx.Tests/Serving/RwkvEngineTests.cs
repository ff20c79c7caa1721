using System.Collections.Concurrent;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Sampling;
using Rwkv.Onnx.Serving;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Serving;

[TestFixture]
public sealed class RwkvEngineTests
{
    private static readonly ByteTokenizer s_bytes = ByteTokenizer.Create();

    private static RwkvModel Model => ServingTestModels.Model;

    private static GenerationOptions Greedy(int maxTokens, params string[] stops) =>
        new() { MaxTokens = maxTokens, Sampling = SamplingSettings.Greedy, StopStrings = stops };

    // Seeded sampling: the tiny model's greedy text is the same from most states, its sampled text is not.
    private static GenerationOptions Sampled(int maxTokens) =>
        new() { MaxTokens = maxTokens, Sampling = new SamplingSettings { Temperature = 1f, TopP = 1f, Seed = 5 } };

    private static EngineRequest Request(string prompt, GenerationOptions options) =>
        new() { PromptTokens = s_bytes.EncodeToArray(prompt), Options = options };

    // A prompt of `length` bytes, different for each seed.
    private static string Prompt(int seed, int length)
    {
        const string Words = "the quick brown fox jumps over a lazy dog while seven wizards quietly hex ";
        var text = new System.Text.StringBuilder();
        for (int i = 0; text.Length < length; i++)
        {
            text.Append(Words[((seed * 7) + (i * 3)) % Words.Length]);
        }
        return text.ToString();
    }

    private static async Task<(List<EngineToken> Tokens, EngineResult Result)> ReadAsync(EngineSequence sequence)
    {
        var tokens = new List<EngineToken>();
        await foreach (EngineToken token in sequence.ReadAllAsync())
        {
            tokens.Add(token);
        }
        return (tokens, await sequence.Completion);
    }

    [Test]
    public async Task Submit_SixteenConcurrentRequestsOfMixedLengths_EachEqualsTextGeneratorAlone()
    {
        // Prompts from 1 to 600 bytes (several prefill slices of 256), greedy and seeded sampling with penalties, stops.
        (string Prompt, GenerationOptions Options)[] specs =
        [
            .. Enumerable.Range(0, 16).Select(i => (
                Prompt(i, i == 0 ? 1 : 1 + (i * 37 % 600)),
                i % 4 == 3
                    ? new GenerationOptions { MaxTokens = 10 + i, Sampling = new SamplingSettings { Temperature = 1f, TopP = 0.9f, Seed = i, PresencePenalty = 0.3f } }
                    : Greedy(10 + (2 * i), i % 5 == 1 ? ["e"] : []))),
        ];
        GenerationResult[] alone = [.. specs.Select(s => new TextGenerator(Model, s_bytes).Generate(s.Prompt, s.Options))];

        await using var engine = new RwkvEngine(Model, s_bytes, new RwkvEngineOptions { PrefixCacheBytes = 0 });
        EngineSequence[] sequences = [.. specs.Select(s => engine.Submit(Request(s.Prompt, s.Options)))];
        var results = await Task.WhenAll(sequences.Select(ReadAsync));

        Assert.Multiple(() =>
        {
            for (int i = 0; i < specs.Length; i++)
            {
                GenerationResult result = results[i].Result.Generation;
                Assert.That(result.Tokens, Is.EqualTo(alone[i].Tokens), $"request {i} tokens");
                Assert.That(result.Text, Is.EqualTo(alone[i].Text), $"request {i} text");
                Assert.That(result.StopReason, Is.EqualTo(alone[i].StopReason), $"request {i} stop reason");
                Assert.That(string.Concat(results[i].Tokens.Select(t => t.Text)), Is.EqualTo(result.Text), $"request {i} streamed text");
                Assert.That(results[i].Tokens.Where(t => t.TokenId >= 0).Select(t => t.TokenId), Is.EqualTo(result.Tokens), $"request {i} streamed tokens");
            }
            EngineStats stats = engine.GetStats();
            Assert.That(stats.CompletedRequests, Is.EqualTo(16));
            Assert.That(stats.GeneratedTokens, Is.EqualTo(results.Sum(r => r.Result.Generation.Tokens.Count)));
            Assert.That(stats.PrefillTokens, Is.EqualTo(specs.Sum(s => s.Prompt.Length)));
            Assert.That(stats.DecodeRows, Is.EqualTo(stats.GeneratedTokens));
            Assert.That((double)stats.DecodeRows / stats.DecodeSteps, Is.GreaterThan(4), "decode steps were batched");
            Assert.That(stats.ActiveSequences + stats.QueuedRequests, Is.Zero);
        });
    }

    [Test]
    public async Task Submit_LongPromptWhileOthersDecode_ItsSlicesAlternateWithDecodeSteps()
    {
        var events = new ConcurrentQueue<EngineLoopEvent>();
        await using var engine = new RwkvEngine(Model, s_bytes, new RwkvEngineOptions { PrefillChunkTokens = 16, PrefixCacheBytes = 0 });
        engine.LoopEvent = events.Enqueue;
        EngineSequence decoder = engine.Submit(Request("Hi", Greedy(200)));
        await foreach (EngineToken _ in decoder.ReadAllAsync())
        {
            break;   // it is decoding
        }
        EngineSequence longPrompt = engine.Submit(Request(Prompt(3, 160), Greedy(3)));
        await longPrompt.Completion;
        await decoder.Completion;

        EngineLoopEvent[] log = [.. events];
        int[] slices = [.. log.Select((e, i) => (e, i)).Where(x => x.e.Kind == EngineLoopEventKind.PrefillSlice && x.e.SequenceIds[0] == longPrompt.Id).Select(x => x.i)];
        Assert.Multiple(() =>
        {
            Assert.That(slices, Has.Length.EqualTo(10), "160 tokens in slices of 16");
            for (int s = 1; s < slices.Length; s++)
            {
                bool stepped = log[slices[s - 1]..slices[s]].Any(e => e.Kind == EngineLoopEventKind.DecodeStep && e.SequenceIds.Contains(decoder.Id));
                Assert.That(stepped, Is.True, $"a decode step of the running request between slices {s - 1} and {s}");
            }
        });
    }

    [Test]
    public async Task Submit_ShortPromptsArrivingTogether_ShareOneIterationsPrefillBudget()
    {
        var events = new ConcurrentQueue<EngineLoopEvent>();
        await using var engine = new RwkvEngine(Model, s_bytes, new RwkvEngineOptions { PrefillChunkTokens = 64, PrefixCacheBytes = 0 });
        engine.LoopEvent = events.Enqueue;
        EngineSequence[] sequences = [.. Enumerable.Range(0, 4).Select(i => engine.Submit(Request(Prompt(i, 10), Greedy(4))))];
        await Task.WhenAll(sequences.Select(s => s.Completion));

        // Four 10-token prompts fit one 64-token budget: all four slices come before the first decode step (if they arrived together).
        EngineLoopEvent[] log = [.. events];
        int firstStep = Array.FindIndex(log, e => e.Kind == EngineLoopEventKind.DecodeStep);
        Assert.That(log[..firstStep].All(e => e.Kind == EngineLoopEventKind.PrefillSlice && e.Tokens == 10), Is.True);
        Assert.That(log.Count(e => e.Kind == EngineLoopEventKind.PrefillSlice), Is.EqualTo(4));
    }

    [Test]
    public async Task Cancel_RunningRequest_FreesItsRowForTheQueuedOne()
    {
        await using var engine = new RwkvEngine(Model, s_bytes, new RwkvEngineOptions { MaxConcurrentSequences = 1, MaxQueuedRequests = 1 });
        using var cancel = new CancellationTokenSource();
        EngineSequence running = engine.Submit(Request("Once upon a time", Greedy(100_000)), cancel.Token);
        EngineSequence queued = engine.Submit(Request("Hello", Greedy(5)));
        int seen = 0;
        await foreach (EngineToken _ in running.ReadAllAsync())
        {
            if (++seen == 3)
            {
                Assert.That(engine.GetStats().QueuedRequests, Is.EqualTo(1), "the second request waits for the only row");
                await cancel.CancelAsync();
            }
        }
        EngineResult canceled = await running.Completion;
        EngineResult next = await queued.Completion.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Multiple(() =>
        {
            Assert.That(canceled.Generation.StopReason, Is.EqualTo(GenerationStopReason.Canceled));
            Assert.That(canceled.Generation.Tokens, Has.Count.InRange(3, 1000));
            Assert.That(next.Generation.StopReason, Is.EqualTo(GenerationStopReason.MaxTokens));
            Assert.That(next.Generation.Tokens, Is.EqualTo(new TextGenerator(Model, s_bytes).Generate("Hello", Greedy(5)).Tokens));
            Assert.That(engine.GetStats().ActiveSequences, Is.Zero);
        });
    }

    [Test]
    public async Task Cancel_QueuedRequest_LeavesTheQueueWithoutRunning()
    {
        await using var engine = new RwkvEngine(Model, s_bytes, new RwkvEngineOptions { MaxConcurrentSequences = 1 });
        using var cancel = new CancellationTokenSource();
        using var stopFirst = new CancellationTokenSource();
        EngineSequence running = engine.Submit(Request("Once upon a time", Greedy(100_000)), stopFirst.Token);
        EngineSequence queued = engine.Submit(Request("Hello", Greedy(5)), cancel.Token);
        await cancel.CancelAsync();
        EngineResult result = await queued.Completion.WaitAsync(TimeSpan.FromSeconds(60));
        await stopFirst.CancelAsync();
        await running.Completion;

        Assert.Multiple(() =>
        {
            Assert.That(result.Generation.StopReason, Is.EqualTo(GenerationStopReason.Canceled));
            Assert.That(result.Generation.Tokens, Is.Empty);
        });
    }

    [Test]
    public async Task Submit_QueueFull_ThrowsEngineQueueFullExceptionWithRetryAfter()
    {
        await using var engine = new RwkvEngine(Model, s_bytes, new RwkvEngineOptions { MaxConcurrentSequences = 1, MaxQueuedRequests = 1 });
        using var cancel = new CancellationTokenSource();
        engine.Submit(Request("Once upon a time", Greedy(100_000)), cancel.Token);
        engine.Submit(Request("Hello", Greedy(1)), cancel.Token);

        var error = Assert.Throws<EngineQueueFullException>(() => engine.Submit(Request("Again", Greedy(1))));
        Assert.Multiple(() =>
        {
            Assert.That(error.QueueLength, Is.EqualTo(1));
            Assert.That(error.RetryAfter, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(1)));
            Assert.That(error.Message, Does.Contain("queue is full"));
        });
        await cancel.CancelAsync();
    }

    [Test]
    public async Task Submit_NamedState_EqualsTextGeneratorFromThatState()
    {
        // A "saved state file": a state fed a persona, saved and loaded back.
        var saved = new MemoryStream();
        using (RwkvState persona = Model.CreateState())
        using (RwkvRunner runner = Model.CreateRunner())
        {
            runner.Forward(s_bytes.EncodeToArray("You are a pirate. Always answer like one.\n\n"), persona, new float[Model.VocabSize]);
            persona.Save(saved);
        }
        saved.Position = 0;
        using RwkvState loaded = RwkvState.Load(Model, saved);
        GenerationResult expected;
        using (RwkvState copy = loaded.Clone())
        {
            expected = new TextGenerator(Model, s_bytes).Generate("Hello", copy, Sampled(20));
        }
        GenerationResult fresh = new TextGenerator(Model, s_bytes).Generate("Hello", Sampled(20));

        await using var engine = new RwkvEngine(Model, s_bytes);
        engine.RegisterState("pirate", loaded);
        EngineResult fromState = await engine.Submit(Request("Hello", Sampled(20)) with { InitialStateName = "pirate" }).Completion;
        EngineResult fromStart = await engine.Submit(Request("Hello", Sampled(20))).Completion;

        Assert.Multiple(() =>
        {
            Assert.That(expected.Tokens, Is.Not.EqualTo(fresh.Tokens), "the state changes the continuation");
            Assert.That(fromState.Generation.Tokens, Is.EqualTo(expected.Tokens));
            Assert.That(fromStart.Generation.Tokens, Is.EqualTo(fresh.Tokens), "the named state's cache entry is not used without the name");
            Assert.That(engine.StateNames, Is.EquivalentTo(new[] { "pirate" }));
        });
        var unknown = Assert.Throws<UnknownStateException>(() => engine.Submit(Request("Hello", Greedy(1)) with { InitialStateName = "ninja" }));
        Assert.That(unknown.Message, Does.Contain("'ninja'").And.Contain("'pirate'"));
    }

    [Test]
    public async Task Submit_InvalidRequests_ThrowArgumentExceptionsNamingTheField()
    {
        await using var engine = new RwkvEngine(Model, s_bytes);
        Assert.Multiple(() =>
        {
            Assert.That(() => engine.Submit(new EngineRequest { PromptTokens = [] }),
                Throws.ArgumentException.With.Property(nameof(ArgumentException.ParamName)).EqualTo("PromptTokens"));
            Assert.That(() => engine.Submit(new EngineRequest { PromptTokens = [1, 256] }),
                Throws.ArgumentException.With.Message.Contains("id 256").And.Message.Contains("[0, 256)"));
            Assert.That(() => engine.Submit(new EngineRequest { PromptTokens = [1, 2], CachePoints = [3] }),
                Throws.ArgumentException.With.Property(nameof(ArgumentException.ParamName)).EqualTo("CachePoints"));
        });
    }

    [Test]
    public async Task DrainAsync_RefusesNewRequestsAndWaitsForRunningOnes()
    {
        var engine = new RwkvEngine(Model, s_bytes);
        EngineSequence running = engine.Submit(Request("Once upon a time", Greedy(30)));
        Task drained = engine.DrainAsync();
        Assert.Throws<EngineStoppingException>(() => engine.Submit(Request("Hello", Greedy(1))));
        await drained.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Multiple(() =>
        {
            Assert.That(running.Completion.IsCompletedSuccessfully, Is.True);
            Assert.That(running.Completion.Result.Generation.Tokens, Has.Count.EqualTo(30));
        });
        await engine.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => engine.Submit(Request("Hello", Greedy(1))));
    }

    [Test]
    public async Task Dispose_WithRequestsRunning_EndsThemAsCanceled()
    {
        var engine = new RwkvEngine(Model, s_bytes, new RwkvEngineOptions { MaxConcurrentSequences = 1 });
        EngineSequence running = engine.Submit(Request("Once upon a time", Greedy(100_000)));
        EngineSequence queued = engine.Submit(Request("Hello", Greedy(5)));
        await foreach (EngineToken _ in running.ReadAllAsync())
        {
            break;
        }
        engine.Dispose();
        Assert.Multiple(() =>
        {
            Assert.That(running.Completion.Result.Generation.StopReason, Is.EqualTo(GenerationStopReason.Canceled));
            Assert.That(queued.Completion.Result.Generation.StopReason, Is.EqualTo(GenerationStopReason.Canceled));
        });
    }
}

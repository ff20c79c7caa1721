using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Sampling;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Generation;

[TestFixture]
public sealed class ChatSessionTests
{
    private static readonly ByteTokenizer s_bytes = ByteTokenizer.Create();

    private static RwkvModel Model => GenerationTestModels.Model;

    private static GenerationOptions Greedy(int maxTokens) => new() { MaxTokens = maxTokens, Sampling = SamplingSettings.Greedy };

    [Test]
    public void Send_SecondTurn_SeesTheSameLogitsAsFeedingTheWholeHistory()
    {
        using var chat = new ChatSession(new TextGenerator(Model, s_bytes), ChatTemplate.World);
        GenerationResult first = chat.Send("Hello there", Greedy(12));
        List<int> historyAfterFirst = [.. chat.HistoryTokens];
        string secondTurn = ChatTemplate.World.FormatTurn("How are you?");

        // The conversation's state, fed the second turn, against the whole history fed from the start.
        float[] fromState = new float[Model.VocabSize];
        using (RwkvState probe = chat.State.Clone())
        using (RwkvRunner runner = Model.CreateRunner())
        {
            runner.Forward(s_bytes.EncodeToArray(secondTurn), probe, fromState);
        }
        List<int> wholeHistory = [.. historyAfterFirst, .. s_bytes.EncodeToIds(secondTurn)];
        float[] fromScratch = GenerationTestModels.StepLogits(wholeHistory)[^1];

        GenerationResult second = chat.Send("How are you?", Greedy(12));

        Assert.Multiple(() =>
        {
            Assert.That(fromState, Is.EqualTo(fromScratch).Within(1e-4f));
            // The history is the first turn, the first reply, the separator it lacked, the second turn, the second reply.
            List<int> firstPart = [.. s_bytes.EncodeToIds(ChatTemplate.World.FormatTurn("Hello there")), .. first.Tokens];
            if (first.StopReason != GenerationStopReason.StopString)
            {
                firstPart.AddRange(s_bytes.EncodeToIds("\n\n"));
            }
            Assert.That(historyAfterFirst, Is.EqualTo(firstPart));
            List<int> expectedHistory = [.. wholeHistory, .. second.Tokens];
            if (second.StopReason != GenerationStopReason.StopString)
            {
                expectedHistory.AddRange(s_bytes.EncodeToIds("\n\n"));
            }
            Assert.That(chat.HistoryTokens, Is.EqualTo(expectedHistory));
            // The reply continues the whole history greedily.
            Assert.That(second.Tokens, Is.EqualTo(GenerationTestModels.GreedyTokens(wholeHistory, second.Tokens.Count)));
        });
    }

    [Test]
    public void Send_TwoConversationsSharingOneOptionsObject_EachRepliesAsIfAlone()
    {
        // Seeded sampling with penalties, turns interleaved between the two conversations: a sampler shared through
        // the options would hand each conversation the other's random numbers.
        var options = new GenerationOptions
        {
            MaxTokens = 15,
            Sampling = new SamplingSettings { Temperature = 1f, Seed = 4, PresencePenalty = 0.5f, FrequencyPenalty = 0.5f, PenaltyDecay = 0.996f },
        };
        string[][] turns = [["Hello there", "How are you?"], ["Tell me a story", "Go on"]];
        var generator = new TextGenerator(Model, s_bytes);
        string[][] alone = [.. turns.Select(conversation =>
        {
            using var chat = new ChatSession(generator, ChatTemplate.World);
            return conversation.Select(turn => chat.Send(turn, options).Text).ToArray();
        })];

        using var first = new ChatSession(generator, ChatTemplate.World);
        using var second = new ChatSession(generator, ChatTemplate.World);
        string[][] interleaved = [new string[2], new string[2]];
        for (int turn = 0; turn < 2; turn++)
        {
            interleaved[0][turn] = first.Send(turns[0][turn], options).Text;
            interleaved[1][turn] = second.Send(turns[1][turn], options).Text;
        }

        Assert.That(interleaved, Is.EqualTo(alone));
    }

    [Test]
    public void Send_SeededConversation_DrawsOneRandomSequenceAcrossTurns()
    {
        // A conversation is one sequence: its second reply continues the first reply's random generator, as the chat
        // command always did, rather than drawing the first reply's numbers again.
        var sampling = new SamplingSettings { Temperature = 1f, Seed = 6 };
        var options = new GenerationOptions { MaxTokens = 12, Sampling = sampling };
        using var chat = new ChatSession(new TextGenerator(Model, s_bytes), ChatTemplate.World);
        using RwkvState beforeFirst = chat.State.Clone();
        GenerationResult first = chat.Send("Hello there", options);
        using RwkvState beforeSecond = chat.State.Clone();
        GenerationResult second = chat.Send("How are you?", options);

        // The same two replies by a hand-written loop over the same states, with one sampler for both.
        ISampler sampler = sampling.CreateSampler();
        using RwkvRunner runner = Model.CreateRunner();
        List<int> Reply(RwkvState state, string turn, int count)
        {
            float[] logits = new float[Model.VocabSize];
            runner.Forward(s_bytes.EncodeToArray(ChatTemplate.World.FormatTurn(turn)), state, logits);
            var tokens = new List<int>();
            for (int i = 0; i < count; i++)
            {
                tokens.Add(sampler.Sample(logits));
                runner.Forward([tokens[^1]], state, logits);
            }
            return tokens;
        }
        List<int> expectedFirst = Reply(beforeFirst, "Hello there", first.Tokens.Count);
        List<int> expectedSecond = Reply(beforeSecond, "How are you?", second.Tokens.Count);

        Assert.Multiple(() =>
        {
            Assert.That(first.Tokens, Is.EqualTo(expectedFirst));
            Assert.That(second.Tokens, Is.EqualTo(expectedSecond));
            Assert.That(second.Tokens, Has.Count.GreaterThan(3), "the second reply draws several numbers");
        });
    }

    [Test]
    public void Send_Cancelled_KeepsTheHalfReplyInTheConversation()
    {
        using var chat = new ChatSession(new TextGenerator(Model, s_bytes), ChatTemplate.World);
        using var cancellation = new CancellationTokenSource();
        int pieces = 0;
        Assert.That(() => chat.Send("Hello there", Greedy(50), _ =>
        {
            if (++pieces == 4)
            {
                cancellation.Cancel();
            }
        }, cancellation.Token), Throws.InstanceOf<OperationCanceledException>());
        List<int> historyAfterFirst = [.. chat.HistoryTokens];
        GenerationResult second = chat.Send("How are you?", Greedy(12));

        // What the state has seen must be the history: the turn, the greedy reply up to the cancellation, the separator.
        List<int> turn = [.. s_bytes.EncodeToIds(ChatTemplate.World.FormatTurn("Hello there"))];
        List<int> expectedFirst = [.. turn, .. GenerationTestModels.GreedyTokens(turn, 4), .. s_bytes.EncodeToIds("\n\n")];
        List<int> secondTurn = [.. expectedFirst, .. s_bytes.EncodeToIds(ChatTemplate.World.FormatTurn("How are you?"))];
        Assert.Multiple(() =>
        {
            Assert.That(historyAfterFirst, Is.EqualTo(expectedFirst), "four one-byte pieces, then the separator");
            Assert.That(second.Tokens, Is.EqualTo(GenerationTestModels.GreedyTokens(secondTurn, second.Tokens.Count)),
                "the next reply continues the conversation the history describes");
        });
    }

    [Test]
    public void Send_Cancelled_ThrowsWithTheReplySoFar()
    {
        using var chat = new ChatSession(new TextGenerator(Model, s_bytes), ChatTemplate.World);
        using var cancellation = new CancellationTokenSource();
        string shown = "";
        GenerationCanceledException? stopped = Assert.Throws<GenerationCanceledException>(() => chat.Send("Hello there", Greedy(50), piece =>
        {
            shown += piece;
            cancellation.Cancel();
        }, cancellation.Token));
        List<int> turn = [.. s_bytes.EncodeToIds(ChatTemplate.World.FormatTurn("Hello there"))];
        Assert.Multiple(() =>
        {
            Assert.That(stopped!.GeneratedTokens, Is.EqualTo(GenerationTestModels.GreedyTokens(turn, 1)));
            Assert.That(stopped.Text, Is.EqualTo(shown));
            Assert.That(stopped.CancellationToken, Is.EqualTo(cancellation.Token));
        });
    }

    [Test]
    public void Send_StopAtBlankLine_HidesItButFeedsIt()
    {
        // A template whose stop string is a single space, which the tiny model emits at once.
        var template = ChatTemplate.World with { StopStrings = [" "] };
        using var chat = new ChatSession(new TextGenerator(Model, s_bytes), template);
        GenerationResult reply = chat.Send("\"in the", Greedy(20));
        Assert.Multiple(() =>
        {
            Assert.That(reply.StopReason, Is.EqualTo(GenerationStopReason.StopString));
            Assert.That(reply.Text, Does.Not.Contain(" "));
            Assert.That(chat.HistoryTokens[^1], Is.EqualTo(' '), "the stop text was fed and no separator added");
        });
    }

    [Test]
    public void Send_AlpacaTemplate_FeedsThePreambleOnce()
    {
        using var chat = new ChatSession(new TextGenerator(Model, s_bytes), ChatTemplate.Alpaca);
        chat.Send("Say hi.", Greedy(3));
        chat.Send("Again.", Greedy(3));
        string history = s_bytes.Decode(chat.HistoryTokens);
        Assert.Multiple(() =>
        {
            Assert.That(history, Does.StartWith(ChatTemplate.Alpaca.Preamble + "# Instruction:\nSay hi.\n\n# Response:\n"));
            Assert.That(history.Split("Below is an instruction").Length - 1, Is.EqualTo(1));
            Assert.That(history, Does.Contain("# Instruction:\nAgain.\n\n# Response:\n"));
        });
    }

    [Test]
    public void Constructor_InitialState_IsCopiedAndUsed()
    {
        using RwkvState initial = Model.CreateState();
        using (RwkvRunner runner = Model.CreateRunner())
        {
            runner.Forward(s_bytes.EncodeToArray("You are terse.\n\n"), initial, new float[Model.VocabSize]);
        }
        float[] before = [.. initial.Current.SelectMany(b => b)];
        using var chat = new ChatSession(new TextGenerator(Model, s_bytes), ChatTemplate.World, initial);
        GenerationResult reply = chat.Send("Hi", Greedy(8));

        List<int> history = [.. s_bytes.EncodeToIds("You are terse.\n\n" + ChatTemplate.World.FormatTurn("Hi"))];
        Assert.Multiple(() =>
        {
            Assert.That(reply.Tokens, Is.EqualTo(GenerationTestModels.GreedyTokens(history, 8)));
            Assert.That(initial.Current.SelectMany(b => b), Is.EqualTo(before));
        });
    }

    [TestCase("hi", "User: hi\n\nAssistant:")]
    [TestCase("  line one\r\n\r\n\nline two \n", "User: line one\nline two\n\nAssistant:")]
    public void FormatTurn_World_CleansBlankLines(string message, string expected)
    {
        Assert.That(ChatTemplate.World.FormatTurn(message), Is.EqualTo(expected));
    }

    [Test]
    public void ForTokenizerKind_NeoXIsAlpaca_OthersWorld()
    {
        Assert.Multiple(() =>
        {
            Assert.That(ChatTemplate.ForTokenizerKind("neox"), Is.SameAs(ChatTemplate.Alpaca));
            Assert.That(ChatTemplate.ForTokenizerKind("world"), Is.SameAs(ChatTemplate.World));
            Assert.That(ChatTemplate.ForTokenizerKind("bytes"), Is.SameAs(ChatTemplate.World));
        });
    }
}

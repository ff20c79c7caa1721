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

    private static GenerationOptions Greedy(int maxTokens) => new() { MaxTokens = maxTokens, Sampler = new GreedySampler() };

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

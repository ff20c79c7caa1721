using Microsoft.Extensions.AI;
using Rwkv.Onnx.AI;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Sampling;
using Rwkv.Onnx.Serving;
using Rwkv.Onnx.Tests.Fixtures;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.AI;

[TestFixture]
public sealed class RwkvChatClientTests
{
    private static readonly ByteTokenizer s_bytes = ByteTokenizer.Create();
    private readonly ScratchRoot _root = new("rwkv-chat-client-tests-");
    private RwkvModel _model = null!;
    private RwkvEngine _engine = null!;
    private RwkvChatClient _client = null!;

    private static ChatOptions Greedy(int maxTokens) => new() { Temperature = 0, PresencePenalty = 0, FrequencyPenalty = 0, MaxOutputTokens = maxTokens };

    [OneTimeSetUp]
    public void ExportAndStart()
    {
        _root.Create();
        string directory = Path.Combine(_root.Path, "model");
        RwkvExporter.Export(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), directory, new ExportOptions());
        _model = RwkvModel.Load(directory);
        _engine = new RwkvEngine(_model, s_bytes);
        _client = new RwkvChatClient(_engine, ChatTemplate.World, "tiny-rwkv7");
    }

    [OneTimeTearDown]
    public void Stop()
    {
        _client?.Dispose();
        _engine?.Dispose();
        _model?.Dispose();
        _root.Delete();
    }

    [Test]
    public async Task GetResponseAsync_OneUserMessage_StreamingEqualsNonStreamingEqualsChatSession()
    {
        GenerationResult session;
        using (var chat = new ChatSession(new TextGenerator(_model, s_bytes), ChatTemplate.World))
        {
            session = chat.Send("Hello there", new GenerationOptions { MaxTokens = 30, Sampling = SamplingSettings.Greedy });
        }

        ChatResponse response = await _client.GetResponseAsync("Hello there", Greedy(30));
        List<ChatResponseUpdate> updates = [];
        await foreach (ChatResponseUpdate update in _client.GetStreamingResponseAsync("Hello there", Greedy(30)))
        {
            updates.Add(update);
        }
        ChatResponse streamed = updates.ToChatResponse();

        Assert.Multiple(() =>
        {
            Assert.That(response.Text, Is.EqualTo(session.Text));
            Assert.That(streamed.Text, Is.EqualTo(session.Text));
            Assert.That(updates.Count(u => u.Text.Length > 0), Is.GreaterThan(1), "streamed in pieces");
            Assert.That(response.Usage!.InputTokenCount, Is.EqualTo(ChatTemplate.World.FormatTurn("Hello there").Length));
            Assert.That(response.Usage.OutputTokenCount, Is.EqualTo(session.Tokens.Count));
            Assert.That(response.Usage.TotalTokenCount, Is.EqualTo(response.Usage.InputTokenCount + session.Tokens.Count));
            Assert.That(streamed.Usage!.OutputTokenCount, Is.EqualTo(session.Tokens.Count));
            Assert.That(streamed.Usage.CachedInputTokenCount, Is.EqualTo(response.Usage.InputTokenCount), "the second call found the first one's prompt");
            Assert.That(response.FinishReason, Is.EqualTo(session.StopReason == GenerationStopReason.MaxTokens ? ChatFinishReason.Length : ChatFinishReason.Stop));
            Assert.That(streamed.FinishReason, Is.EqualTo(response.FinishReason));
            Assert.That(response.ModelId, Is.EqualTo("tiny-rwkv7"));
            Assert.That(response.Messages.Single().Role, Is.EqualTo(ChatRole.Assistant));
        });
    }

    [Test]
    public async Task GetResponseAsync_Conversation_ContinuesTheChatPromptAndResumesFromTheCache()
    {
        ChatMessage[] history =
        [
            new(ChatRole.System, "Answer briefly."),
            new(ChatRole.User, "What is the sky?"),
            new(ChatRole.Assistant, "Blue air."),
            new(ChatRole.User, "And the sea?"),
        ];
        ChatPrompt prompt = ChatPrompt.Create(ChatTemplate.World, s_bytes,
            [new(ChatPromptRole.System, "Answer briefly."), new(ChatPromptRole.User, "What is the sky?"),
             new(ChatPromptRole.Assistant, "Blue air."), new(ChatPromptRole.User, "And the sea?")]);
        GenerationResult expected = new TextGenerator(_model, s_bytes).Generate(s_bytes.Decode(prompt.Tokens),
            new GenerationOptions { MaxTokens = 20, Sampling = SamplingSettings.Greedy, StopStrings = ChatTemplate.World.StopStrings });

        ChatResponse first = await _client.GetResponseAsync(history[..2], Greedy(20));
        ChatResponse second = await _client.GetResponseAsync(history, Greedy(20));

        Assert.Multiple(() =>
        {
            Assert.That(second.Text, Is.EqualTo(expected.Text));
            Assert.That(second.Usage!.InputTokenCount, Is.EqualTo(prompt.Tokens.Count));
            // The first call cached its whole prompt (system + first user turn), a prefix of the second one's.
            Assert.That(second.Usage.CachedInputTokenCount, Is.EqualTo(first.Usage!.InputTokenCount));
        });
    }

    [Test]
    public async Task GetResponseAsync_Seed_ReproducesSampledReplies()
    {
        ChatOptions Seeded(long seed) => new() { Temperature = 1, TopP = 1, Seed = seed, MaxOutputTokens = 40, StopSequences = [] };
        ChatResponse a = await _client.GetResponseAsync("Tell me a story", Seeded(42));
        ChatResponse b = await _client.GetResponseAsync("Tell me a story", Seeded(42));
        ChatResponse c = await _client.GetResponseAsync("Tell me a story", Seeded(43));
        Assert.Multiple(() =>
        {
            Assert.That(b.Text, Is.EqualTo(a.Text));
            Assert.That(c.Text, Is.Not.EqualTo(a.Text));
        });
    }

    [Test]
    public async Task GetResponseAsync_StopSequenceAndMaxOutputTokens_AreApplied()
    {
        ChatResponse free = await _client.GetResponseAsync("Tell me a story", Greedy(40));
        string stop = free.Text.Substring(8, 2);
        ChatResponse stopped = await _client.GetResponseAsync("Tell me a story", new ChatOptions
        {
            Temperature = 0,
            PresencePenalty = 0,
            FrequencyPenalty = 0,
            MaxOutputTokens = 40,
            StopSequences = [stop],
        });
        ChatResponse short7 = await _client.GetResponseAsync("Tell me a story", Greedy(7));

        Assert.Multiple(() =>
        {
            Assert.That(stopped.Text, Is.EqualTo(free.Text[..free.Text.IndexOf(stop, StringComparison.Ordinal)]));
            Assert.That(stopped.FinishReason, Is.EqualTo(ChatFinishReason.Stop));
            Assert.That(short7.Usage!.OutputTokenCount, Is.EqualTo(7));
            Assert.That(short7.FinishReason, Is.EqualTo(ChatFinishReason.Length));
            Assert.That(short7.Text, Is.EqualTo(free.Text[..7]), "byte tokens: 7 tokens, 7 characters");
        });
    }

    [Test]
    public async Task GetStreamingResponseAsync_Cancelled_ThrowsAndFreesTheRow()
    {
        using var cancel = new CancellationTokenSource();
        int pieces = 0;
        Assert.That(async () =>
        {
            await foreach (ChatResponseUpdate _ in _client.GetStreamingResponseAsync("Tell me a story", Greedy(100_000), cancel.Token))
            {
                if (++pieces == 3)
                {
                    await cancel.CancelAsync();
                }
            }
        }, Throws.InstanceOf<OperationCanceledException>());
        for (int i = 0; i < 600 && _engine.GetStats().ActiveSequences > 0; i++)
        {
            await Task.Delay(100);
        }
        Assert.That(_engine.GetStats().ActiveSequences, Is.Zero);
    }

    [Test]
    public void GetService_ReturnsMetadataEngineModelAndTemplate()
    {
        Assert.Multiple(() =>
        {
            Assert.That(_client.GetService<ChatClientMetadata>()?.DefaultModelId, Is.EqualTo("tiny-rwkv7"));
            Assert.That(_client.GetService<RwkvEngine>(), Is.SameAs(_engine));
            Assert.That(_client.GetService<RwkvModel>(), Is.SameAs(_model));
            Assert.That(_client.GetService<ChatTemplate>(), Is.SameAs(ChatTemplate.World));
            Assert.That(_client.GetService<RwkvEngine>("key"), Is.Null);
        });
    }

    [Test]
    public void GetResponseAsync_ToolMessage_ThrowsArgumentExceptionNamingTheRole()
    {
        Assert.That(() => _client.GetResponseAsync([new ChatMessage(ChatRole.Tool, "42"), new ChatMessage(ChatRole.User, "Hi")]),
            Throws.ArgumentException.With.Message.Contains("'tool'"));
    }
}

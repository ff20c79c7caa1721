using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using Rwkv.Onnx.Generation;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;
using ExtensionsFinishReason = Microsoft.Extensions.AI.ChatFinishReason;

namespace Rwkv.Onnx.Tests.Server;

/// <summary>
/// The official OpenAI .NET SDK and Microsoft.Extensions.AI's OpenAI client against the server over loopback: every
/// greedy reply equals <see cref="TextGenerator"/>'s for the same prompt, and usage and finish reasons come through.
/// </summary>
[TestFixture]
public sealed class OpenAIClientTests
{
    private const string UserMessage = "Hello there";
    private const int MaxTokens = 12;

    private RunningServer _server = null!;

    [OneTimeSetUp]
    public async Task StartServer() => _server = await RunningServer.StartAsync();

    [OneTimeTearDown]
    public async Task StopServer() => await _server.DisposeAsync();

    private ChatClient ChatClient() =>
        new(ServerTestModel.ModelId, new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = _server.OpenAIEndpoint });

    // Greedy and without the model's chat penalties, so the reference is plain greedy decoding.
    private static ChatCompletionOptions Greedy() => new() { Temperature = 0, PresencePenalty = 0, FrequencyPenalty = 0, MaxOutputTokenCount = MaxTokens };

    // The SDK's completions client is internal in 2.15.0; its public pipeline (the API key policy, retries, error
    // mapping to ClientResultException) carries the request, as it carries the chat client's.
    private async Task<PipelineMessage> SendCompletionAsync(string body, bool stream)
    {
        var openAI = new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = _server.OpenAIEndpoint });
        PipelineMessage message = openAI.Pipeline.CreateMessage();
        message.ResponseClassifier = PipelineMessageClassifier.Create(stackalloc ushort[] { 200 });
        message.BufferResponse = !stream;
        message.Request.Method = "POST";
        message.Request.Uri = new Uri(_server.OpenAIEndpoint + "/completions");
        message.Request.Headers.Set("Content-Type", "application/json");
        message.Request.Content = BinaryContent.Create(BinaryData.FromString(body));
        await openAI.Pipeline.SendAsync(message);
        Assert.That(message.Response!.Status, Is.EqualTo(200));
        return message;
    }

    [Test]
    public async Task ChatCompletion_OpenAISdk_RepliesAsTextGeneratorWithUsage()
    {
        GenerationResult expected = ReferenceReplies.ChatReply(UserMessage, MaxTokens);

        ChatCompletion completion = await ChatClient().CompleteChatAsync([new UserChatMessage(UserMessage)], Greedy());

        Assert.Multiple(() =>
        {
            Assert.That(completion.Content[0].Text, Is.EqualTo(expected.Text));
            Assert.That(completion.FinishReason, Is.EqualTo(expected.StopReason == GenerationStopReason.MaxTokens ? ChatFinishReason.Length : ChatFinishReason.Stop));
            Assert.That(completion.Usage.InputTokenCount, Is.EqualTo(expected.PromptTokenCount));
            Assert.That(completion.Usage.OutputTokenCount, Is.EqualTo(expected.GeneratedTokenCount));
            Assert.That(completion.Model, Is.EqualTo(ServerTestModel.ModelId));
            Assert.That(completion.Role, Is.EqualTo(ChatMessageRole.Assistant));
        });
    }

    [Test]
    public async Task ChatCompletionStreaming_OpenAISdk_ConcatenatesToTheSameReplyThenUsage()
    {
        GenerationResult expected = ReferenceReplies.ChatReply(UserMessage, MaxTokens);
        ChatCompletionOptions options = Greedy();

        var text = new StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        int updates = 0;
        await foreach (StreamingChatCompletionUpdate update in ChatClient().CompleteChatStreamingAsync([new UserChatMessage(UserMessage)], options))
        {
            updates++;
            foreach (ChatMessageContentPart part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        Assert.Multiple(() =>
        {
            Assert.That(text.ToString(), Is.EqualTo(expected.Text));
            Assert.That(updates, Is.GreaterThan(2), "the reply arrives in several chunks, not one");
            Assert.That(finish, Is.EqualTo(expected.StopReason == GenerationStopReason.MaxTokens ? ChatFinishReason.Length : ChatFinishReason.Stop));
            Assert.That(usage?.InputTokenCount, Is.EqualTo(expected.PromptTokenCount));
            Assert.That(usage?.OutputTokenCount, Is.EqualTo(expected.GeneratedTokenCount));
        });
    }

    [Test]
    public async Task Completion_OpenAISdkPipeline_ContinuesThePromptAsTextGenerator()
    {
        const string Prompt = "Once upon a time";
        GenerationResult expected = ReferenceReplies.Greedy(Prompt, MaxTokens);
        string body = JsonSerializer.Serialize(new { model = ServerTestModel.ModelId, prompt = Prompt, max_tokens = MaxTokens, temperature = 0, presence_penalty = 0, frequency_penalty = 0 });

        using PipelineMessage message = await SendCompletionAsync(body, stream: false);

        using JsonDocument response = JsonDocument.Parse(message.Response!.Content);
        JsonElement choice = response.RootElement.GetProperty("choices")[0];
        Assert.Multiple(() =>
        {
            Assert.That(response.RootElement.GetProperty("object").GetString(), Is.EqualTo("text_completion"));
            Assert.That(choice.GetProperty("text").GetString(), Is.EqualTo(expected.Text));
            Assert.That(choice.GetProperty("finish_reason").GetString(), Is.EqualTo("length"));
            Assert.That(response.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), Is.EqualTo(MaxTokens));
            Assert.That(response.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), Is.EqualTo(Encoding.UTF8.GetByteCount(Prompt)));
        });
    }

    [Test]
    public async Task CompletionStreaming_OpenAISdkPipeline_EventsConcatenateToTheSameTextThenDone()
    {
        const string Prompt = "The quick brown fox";
        GenerationResult expected = ReferenceReplies.Greedy(Prompt, MaxTokens);
        string body = JsonSerializer.Serialize(new { model = ServerTestModel.ModelId, prompt = Prompt, max_tokens = MaxTokens, temperature = 0, presence_penalty = 0, frequency_penalty = 0, stream = true });

        using PipelineMessage message = await SendCompletionAsync(body, stream: true);
        PipelineResponse result = message.Response!;

        var text = new StringBuilder();
        var data = new List<string>();
        await foreach (SseItem<string> item in SseParser.Create(result.ContentStream!).EnumerateAsync())
        {
            data.Add(item.Data);
            if (item.Data != "[DONE]")
            {
                using JsonDocument chunk = JsonDocument.Parse(item.Data);
                text.Append(chunk.RootElement.GetProperty("choices")[0].GetProperty("text").GetString());
            }
        }
        Assert.Multiple(() =>
        {
            Assert.That(result.Headers.TryGetValue("Content-Type", out string? type) ? type : null, Does.StartWith("text/event-stream"));
            Assert.That(text.ToString(), Is.EqualTo(expected.Text));
            Assert.That(data[^1], Is.EqualTo("[DONE]"));
            Assert.That(data, Has.Count.GreaterThan(3));
        });
    }

    [Test]
    public async Task ChatClient_MicrosoftExtensionsAIOverOpenAI_RepliesAsTextGenerator()
    {
        GenerationResult expected = ReferenceReplies.ChatReply(UserMessage, MaxTokens);
        using IChatClient client = ChatClient().AsIChatClient();
        var options = new ChatOptions { Temperature = 0, PresencePenalty = 0, FrequencyPenalty = 0, MaxOutputTokens = MaxTokens };

        ChatResponse response = await client.GetResponseAsync(UserMessage, options);
        var streamed = new StringBuilder();
        await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync(UserMessage, options))
        {
            streamed.Append(update.Text);
        }

        Assert.Multiple(() =>
        {
            Assert.That(response.Text, Is.EqualTo(expected.Text));
            Assert.That(streamed.ToString(), Is.EqualTo(expected.Text));
            Assert.That(response.Usage?.InputTokenCount, Is.EqualTo(expected.PromptTokenCount));
            Assert.That(response.Usage?.OutputTokenCount, Is.EqualTo(expected.GeneratedTokenCount));
            Assert.That(response.FinishReason, Is.EqualTo(expected.StopReason == GenerationStopReason.MaxTokens ? ExtensionsFinishReason.Length : ExtensionsFinishReason.Stop));
        });
    }
}

using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Sampling;
using Rwkv.Onnx.Serving;

namespace Rwkv.Onnx.AI;

/// <summary>
/// An <see cref="IChatClient"/> over a shared <see cref="RwkvEngine"/>: every call is one engine request, so many callers
/// in one process share one model and are decoded in one batch. Messages are formatted with a <see cref="ChatTemplate"/>
/// (<see cref="ChatPrompt"/>, the same tokens the server's chat endpoint sends), and the message boundaries are passed as
/// cache points, so a conversation that re-sends its history resumes from the engine's prefix cache.
/// </summary>
/// <example>
/// <code>
/// using RwkvModel model = RwkvModel.Load("models/rwkv7-0.1b");
/// await using var engine = new RwkvEngine(model, RwkvTokenizers.Load(model));
/// IChatClient client = new RwkvChatClient(engine);
/// ChatResponse reply = await client.GetResponseAsync("What is RWKV?", new ChatOptions { Temperature = 0, MaxOutputTokens = 200 });
/// Console.WriteLine(reply.Text);
/// </code>
/// </example>
/// <remarks>
/// <para>
/// <see cref="ChatOptions"/> map onto the sampling settings: <see cref="ChatOptions.Temperature"/>, <see cref="ChatOptions.TopP"/>,
/// <see cref="ChatOptions.TopK"/>, <see cref="ChatOptions.PresencePenalty"/>, <see cref="ChatOptions.FrequencyPenalty"/> override the
/// model's chat preset (its manifest's, else <see cref="SamplingSettings.Chat"/>); <see cref="ChatOptions.Seed"/> seeds the sampler
/// (a seed outside the 32-bit range is folded to 32 bits); <see cref="ChatOptions.StopSequences"/> add to the template's stop strings;
/// <see cref="ChatOptions.MaxOutputTokens"/> bounds the reply (default <see cref="DefaultMaxOutputTokens"/>);
/// <see cref="ChatOptions.ModelId"/> is echoed in the response (one engine serves one model). Tools and response formats are not supported and are ignored.
/// </para>
/// <para>
/// Usage counts the prompt tokens (<see cref="UsageDetails.InputTokenCount"/>, of which <see cref="UsageDetails.CachedInputTokenCount"/>
/// came from the prefix cache) and the generated tokens (<see cref="UsageDetails.OutputTokenCount"/>). Cancelling a call ends the engine
/// request (its row is freed at the next step) and throws <see cref="OperationCanceledException"/>. Thread-safe. Disposing the client does
/// not dispose the engine.
/// </para>
/// </remarks>
public sealed class RwkvChatClient : IChatClient
{
    /// <summary>The reply length bound when <see cref="ChatOptions.MaxOutputTokens"/> is not set.</summary>
    public const int DefaultMaxOutputTokens = 1024;

    private readonly RwkvEngine _engine;
    private readonly ChatTemplate _template;
    private readonly SamplingSettings _preset;
    private readonly ChatClientMetadata _metadata;

    /// <summary>Creates a client over <paramref name="engine"/>.</summary>
    /// <param name="engine">The engine; shared, not owned.</param>
    /// <param name="template">The chat format; null for the model's (<see cref="ChatTemplate.ForManifest"/>).</param>
    /// <param name="modelId">The model id reported in responses and metadata; null for the model directory's name.</param>
    /// <exception cref="ArgumentNullException"><paramref name="engine"/> is null.</exception>
    public RwkvChatClient(RwkvEngine engine, ChatTemplate? template = null, string? modelId = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        _engine = engine;
        _template = template ?? ChatTemplate.ForManifest(engine.Model.Manifest);
        _preset = engine.Model.Manifest.Generation?.Sampling.Chat.ToSettings() ?? SamplingSettings.Chat;
        ModelId = modelId ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(engine.Model.ModelDirectory));
        _metadata = new ChatClientMetadata("rwkv-onnx", null, ModelId);
    }

    /// <summary>The model id reported in responses.</summary>
    public string ModelId { get; }

    /// <summary>The chat format.</summary>
    public ChatTemplate Template => _template;

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The messages are empty, the last is not a user message, or one has a role other than system, user or assistant.</exception>
    /// <exception cref="Exceptions.EngineQueueFullException">The engine's queue is full.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        EngineSequence sequence = Submit(messages, options, cancellationToken);
        EngineResult result = await sequence.Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
        ThrowIfCanceled(result, cancellationToken);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, result.Generation.Text))
        {
            ResponseId = ResponseId(sequence),
            ModelId = options?.ModelId ?? ModelId,
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = FinishReason(result),
            Usage = Usage(result),
        };
    }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The messages are empty, the last is not a user message, or one has a role other than system, user or assistant.</exception>
    /// <exception cref="Exceptions.EngineQueueFullException">The engine's queue is full.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        // Submitted now, so a bad request or a full queue throws here rather than at the first MoveNextAsync. The request
        // is also cancelled when the caller stops enumerating early, so an abandoned stream frees its row.
        var abandon = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            EngineSequence sequence = Submit(messages, options, abandon.Token);
            return StreamAsync(sequence, abandon, options?.ModelId ?? ModelId, cancellationToken);
        }
        catch
        {
            abandon.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    /// <remarks>Serves <see cref="ChatClientMetadata"/>, the <see cref="RwkvEngine"/>, its <see cref="RwkvModel"/>, the <see cref="ChatTemplate"/> and this client.</remarks>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
        {
            return null;
        }
        object?[] services = [_metadata, _engine, _engine.Model, _template, this];
        return services.FirstOrDefault(serviceType.IsInstanceOfType);
    }

    /// <summary>Does nothing: the engine is shared and disposed by its owner.</summary>
    public void Dispose()
    {
    }

    private async IAsyncEnumerable<ChatResponseUpdate> StreamAsync(EngineSequence sequence, CancellationTokenSource abandon, string modelId,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string responseId = ResponseId(sequence);
        DateTimeOffset created = DateTimeOffset.UtcNow;
        EngineResult result;
        try
        {
            await foreach (EngineToken token in sequence.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                if (token.Text.Length > 0)
                {
                    yield return new ChatResponseUpdate(ChatRole.Assistant, token.Text)
                    {
                        ResponseId = responseId,
                        MessageId = responseId,
                        ModelId = modelId,
                        CreatedAt = created,
                    };
                }
            }
            result = await sequence.Completion.ConfigureAwait(false);
        }
        finally
        {
            if (!sequence.Completion.IsCompleted)
            {
                await abandon.CancelAsync().ConfigureAwait(false);
            }
            abandon.Dispose();
        }
        ThrowIfCanceled(result, cancellationToken);
        yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(Usage(result))])
        {
            ResponseId = responseId,
            MessageId = responseId,
            ModelId = modelId,
            CreatedAt = created,
            FinishReason = FinishReason(result),
        };
    }

    private EngineSequence Submit(IEnumerable<ChatMessage> messages, ChatOptions? options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ChatPrompt prompt = ChatPrompt.Create(_template, _engine.Tokenizer, messages.Select(ToPromptMessage));
        return _engine.Submit(new EngineRequest
        {
            PromptTokens = prompt.Tokens,
            CachePoints = prompt.CachePoints,
            Options = ToGenerationOptions(options),
        }, cancellationToken);
    }

    /// <summary>The engine options for <paramref name="options"/> (see the class remarks).</summary>
    internal GenerationOptions ToGenerationOptions(ChatOptions? options)
    {
        SamplingSettings sampling = _preset;
        if (options is not null)
        {
            sampling = sampling with
            {
                Temperature = options.Temperature ?? sampling.Temperature,
                TopP = options.TopP ?? sampling.TopP,
                TopK = options.TopK ?? sampling.TopK,
                PresencePenalty = options.PresencePenalty ?? sampling.PresencePenalty,
                FrequencyPenalty = options.FrequencyPenalty ?? sampling.FrequencyPenalty,
                Seed = options.Seed is long seed ? (int)(seed ^ (seed >> 32)) : null,
            };
        }
        return new GenerationOptions
        {
            MaxTokens = options?.MaxOutputTokens ?? DefaultMaxOutputTokens,
            Sampling = sampling,
            StopStrings = [.. _template.StopStrings, .. options?.StopSequences ?? []],
        };
    }

    private static ChatPromptMessage ToPromptMessage(ChatMessage message, int index)
    {
        ArgumentNullException.ThrowIfNull(message);
        ChatPromptRole role = message.Role == ChatRole.System ? ChatPromptRole.System
            : message.Role == ChatRole.User ? ChatPromptRole.User
            : message.Role == ChatRole.Assistant ? ChatPromptRole.Assistant
            : throw new ArgumentException(
                $"Message {index} has the role '{message.Role}'; this client formats only system, user and assistant messages (no tools).", "messages");
        return new ChatPromptMessage(role, message.Text);
    }

    private static string ResponseId(EngineSequence sequence) => $"rwkv-{sequence.Id}";

    private static void ThrowIfCanceled(EngineResult result, CancellationToken cancellationToken)
    {
        if (result.Generation.StopReason == GenerationStopReason.Canceled)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw new OperationCanceledException("The engine was shut down before the reply was complete.");
        }
    }

    private static ChatFinishReason FinishReason(EngineResult result) =>
        result.Generation.StopReason == GenerationStopReason.MaxTokens ? ChatFinishReason.Length : ChatFinishReason.Stop;

    private static UsageDetails Usage(EngineResult result) => new()
    {
        InputTokenCount = result.Generation.PromptTokenCount,
        CachedInputTokenCount = result.CachedPromptTokens,
        OutputTokenCount = result.Generation.Tokens.Count,
        TotalTokenCount = result.Generation.PromptTokenCount + result.Generation.Tokens.Count,
    };
}

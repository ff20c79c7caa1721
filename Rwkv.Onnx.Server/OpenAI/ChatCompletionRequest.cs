namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>The body of <c>POST /v1/chat/completions</c>.</summary>
internal sealed class ChatCompletionRequest : GenerationRequest
{
    public IReadOnlyList<ChatMessage>? Messages { get; init; }

    /// <summary>The newer name of <see cref="GenerationRequest.MaxTokens"/>, which the OpenAI SDK sends; both given must agree.</summary>
    public int? MaxCompletionTokens { get; init; }

    public bool? Logprobs { get; init; }
}

namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>A <c>chat.completion</c> object: the non-streamed response of <c>/v1/chat/completions</c>.</summary>
internal sealed record ChatCompletionResponse(string Id, long Created, string Model, IReadOnlyList<ChatChoice> Choices, Usage Usage)
{
    public string Object => "chat.completion";

    public string? SystemFingerprint => null;
}

namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>
/// A <c>chat.completion.chunk</c>: one streamed event. The first carries the role, the next ones content, the last of
/// them the finish reason; with <c>include_usage</c> a final chunk has no choices and the usage.
/// </summary>
internal sealed record ChatCompletionChunk(string Id, long Created, string Model, IReadOnlyList<ChatChunkChoice> Choices, Usage? Usage)
{
    public string Object => "chat.completion.chunk";

    public string? SystemFingerprint => null;
}

namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>One choice of a streamed chat chunk: what the message gained, and the finish reason on the last one.</summary>
internal sealed record ChatChunkChoice(int Index, ChatDelta Delta, string? FinishReason)
{
    public object? Logprobs => null;
}

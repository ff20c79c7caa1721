namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>One choice of a completion; <c>finish_reason</c> is stop or length, null in the chunks before the last.</summary>
internal sealed record CompletionChoice(string Text, int Index, string? FinishReason)
{
    public object? Logprobs => null;
}

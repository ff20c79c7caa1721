namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>One choice of a chat completion: the assistant's message and why it ended (stop or length).</summary>
internal sealed record ChatChoice(int Index, AssistantMessage Message, string FinishReason)
{
    public object? Logprobs => null;
}

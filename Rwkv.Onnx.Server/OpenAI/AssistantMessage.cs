namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>The assistant's reply in a non-streamed chat completion.</summary>
internal sealed record AssistantMessage(string Content)
{
    public string Role => "assistant";

    public string? Refusal => null;
}

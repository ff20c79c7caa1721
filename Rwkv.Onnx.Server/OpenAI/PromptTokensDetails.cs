namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>The part of the prompt whose state came from the prefix cache rather than a prefill.</summary>
internal sealed record PromptTokensDetails(int CachedTokens);

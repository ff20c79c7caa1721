namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>Token counts of one request; <c>prompt_tokens_details.cached_tokens</c> counts prompt tokens served from the prefix state cache.</summary>
internal sealed record Usage(int PromptTokens, int CompletionTokens, int TotalTokens, PromptTokensDetails PromptTokensDetails)
{
    public static Usage Create(int promptTokens, int completionTokens, int cachedTokens) =>
        new(promptTokens, completionTokens, promptTokens + completionTokens, new PromptTokensDetails(cachedTokens));
}

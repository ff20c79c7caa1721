namespace Rwkv.Onnx.Cli.Bench.Serve;

/// <summary>One streamed request as its client saw it.</summary>
/// <param name="TimeToFirstToken">From sending the request to the first chunk with text.</param>
/// <param name="Gaps">Times between consecutive chunks with text (the inter-token latency; a chunk is one token, or a few when a character spans tokens).</param>
/// <param name="PromptTokens">The server's <c>usage.prompt_tokens</c>.</param>
/// <param name="CompletionTokens">The server's <c>usage.completion_tokens</c>.</param>
/// <param name="CachedTokens">The server's <c>usage.prompt_tokens_details.cached_tokens</c>: prompt tokens from the prefix cache.</param>
internal sealed record StreamTiming(TimeSpan TimeToFirstToken, IReadOnlyList<TimeSpan> Gaps, int PromptTokens, int CompletionTokens, int CachedTokens);

namespace Rwkv.Onnx.Cli.Bench.Serve;

/// <summary>What <c>bench serve</c> measures.</summary>
/// <param name="Streams">Concurrent streams per load level, e.g. 1, 4, 16, 64.</param>
/// <param name="MaxTokens">Output tokens per stream.</param>
/// <param name="HistoryTokens">Approximate tokens of the chat history of the prefix-cache workload.</param>
/// <param name="Rounds">Rounds; each runs every load level and the chat workload once, so levels interleave in time.</param>
internal sealed record ServeBenchPlan(IReadOnlyList<int> Streams, int MaxTokens, int HistoryTokens, int Rounds);

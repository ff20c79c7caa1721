namespace Rwkv.Onnx.Serving;

/// <summary>A snapshot of an <see cref="RwkvEngine"/>'s gauges and counters (counters since the engine was created).</summary>
/// <param name="ActiveSequences">Requests holding a row: being prefilled or decoding.</param>
/// <param name="QueuedRequests">Requests waiting for a row.</param>
/// <param name="CompletedRequests">Requests ended in any way (finished, stopped, cancelled, failed).</param>
/// <param name="GeneratedTokens">Tokens generated, over all requests.</param>
/// <param name="PrefillTokens">Prompt tokens fed to the model (not those served from the prefix cache).</param>
/// <param name="DecodeSteps">Batched decode steps run.</param>
/// <param name="DecodeRows">Sum of the batch sizes of the decode steps: the mean batch is <c>DecodeRows / DecodeSteps</c>.</param>
/// <param name="CacheHits">Requests that started from a cached prefix.</param>
/// <param name="CacheMisses">Requests that found no cached prefix (counted only while the cache is enabled).</param>
/// <param name="CacheEntries">Entries in the prefix cache.</param>
/// <param name="CacheBytes">Bytes held by the prefix cache.</param>
/// <param name="CachedTokensReused">Prompt tokens served from the prefix cache, over all requests.</param>
public sealed record EngineStats(
    int ActiveSequences, int QueuedRequests, long CompletedRequests, long GeneratedTokens, long PrefillTokens,
    long DecodeSteps, long DecodeRows,
    long CacheHits, long CacheMisses, long CacheEntries, long CacheBytes, long CachedTokensReused);

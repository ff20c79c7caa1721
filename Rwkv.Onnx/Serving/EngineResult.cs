using Rwkv.Onnx.Generation;

namespace Rwkv.Onnx.Serving;

/// <summary>The outcome of an <see cref="EngineRequest"/>.</summary>
/// <param name="Generation">
/// Text, tokens, prompt token count, stop reason (<see cref="GenerationStopReason.Canceled"/> after cancellation) and timings:
/// <see cref="GenerationResult.PrefillTime"/> is the wall time from the first prefill slice to the last (other requests' work
/// interleaved), <see cref="GenerationResult.DecodeTime"/> from joining the batch to the end.
/// </param>
/// <param name="CachedPromptTokens">Prompt tokens served from the prefix cache instead of prefilled (0 for a cold prefill).</param>
/// <param name="QueueTime">From <see cref="RwkvEngine.Submit"/> to the request getting a row (the start of its prefill).</param>
/// <param name="TimeToFirstToken">From <see cref="RwkvEngine.Submit"/> to the first generated token; zero when none was generated.</param>
public sealed record EngineResult(GenerationResult Generation, int CachedPromptTokens, TimeSpan QueueTime, TimeSpan TimeToFirstToken);

using Prometheus;
using Rwkv.Onnx.Serving;

namespace Rwkv.Onnx.Server.Metrics;

/// <summary>
/// The server's Prometheus metrics, in a registry of its own (so two servers in one process do not mix counts). The
/// engine's counters and gauges are read from <see cref="RwkvEngine.GetStats"/> at each scrape; request counts and
/// latencies are recorded as requests run. prometheus-net writes the text exposition (escaping, histogram buckets),
/// which is easy to get subtly wrong by hand.
/// </summary>
internal sealed class ServerMetrics
{
    private const string Prefix = "rwkv_";

    // 1 ms to ~33 s: prefill of a long prompt on a loaded CPU reaches seconds; a batched decode step is milliseconds.
    private static readonly double[] s_latencyBuckets = Histogram.ExponentialBuckets(0.001, 2, 16);

    private readonly Counter _requests;
    private readonly Histogram _timeToFirstToken;
    private readonly Histogram _interTokenLatency;
    private readonly Counter _streamedTokens;
    private readonly TokenRateMeter _rate = new();

    public ServerMetrics(RwkvEngine engine)
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        MetricFactory factory = Prometheus.Metrics.WithCustomRegistry(Registry);
        _requests = factory.CreateCounter(Prefix + "http_requests_total", "HTTP requests by endpoint and status code (499: the client disconnected first).",
            new CounterConfiguration { LabelNames = ["endpoint", "status"] });
        _timeToFirstToken = factory.CreateHistogram(Prefix + "time_to_first_token_seconds", "From submission to the engine to the first generated token (queue and prefill).",
            new HistogramConfiguration { Buckets = s_latencyBuckets });
        _interTokenLatency = factory.CreateHistogram(Prefix + "inter_token_latency_seconds", "Time between two consecutive tokens of one sequence.",
            new HistogramConfiguration { Buckets = s_latencyBuckets });
        _streamedTokens = factory.CreateCounter(Prefix + "response_tokens_total", "Generated tokens the server passed on to clients.");
        Gauge tokensPerSecond = factory.CreateGauge(Prefix + "generated_tokens_per_second", $"Tokens passed on to clients per second, over the last {TokenRateMeter.WindowSeconds} s.");

        Gauge active = factory.CreateGauge(Prefix + "active_sequences", "Sequences holding a row of the batched decode step.");
        Gauge queued = factory.CreateGauge(Prefix + "queued_requests", "Requests admitted but waiting for a row (the queue length).");
        Counter completed = factory.CreateCounter(Prefix + "completed_requests_total", "Engine requests that ended (any way).");
        Counter generated = factory.CreateCounter(Prefix + "generated_tokens_total", "Tokens the engine generated.");
        Counter prefill = factory.CreateCounter(Prefix + "prefill_tokens_total", "Prompt tokens the engine prefilled (cached ones excluded).");
        Counter steps = factory.CreateCounter(Prefix + "decode_steps_total", "Batched decode steps.");
        Counter rows = factory.CreateCounter(Prefix + "decode_rows_total", "Sequences over all decode steps: rows / steps is the mean batch size.");
        Gauge batch = factory.CreateGauge(Prefix + "decode_batch_size_mean", "Mean sequences per decode step since start (decode_rows_total / decode_steps_total).");
        Counter hits = factory.CreateCounter(Prefix + "prefix_cache_hits_total", "Requests that started from a cached prompt prefix state.");
        Counter misses = factory.CreateCounter(Prefix + "prefix_cache_misses_total", "Requests that found no cached prefix state.");
        Counter reused = factory.CreateCounter(Prefix + "prefix_cache_reused_tokens_total", "Prompt tokens served from the prefix cache instead of a prefill.");
        Gauge entries = factory.CreateGauge(Prefix + "prefix_cache_entries", "States in the prefix cache.");
        Gauge bytes = factory.CreateGauge(Prefix + "prefix_cache_bytes", "Bytes the prefix cache holds.");

        Registry.AddBeforeCollectCallback(() =>
        {
            EngineStats s = engine.GetStats();
            active.Set(s.ActiveSequences);
            queued.Set(s.QueuedRequests);
            completed.IncTo(s.CompletedRequests);
            generated.IncTo(s.GeneratedTokens);
            prefill.IncTo(s.PrefillTokens);
            steps.IncTo(s.DecodeSteps);
            rows.IncTo(s.DecodeRows);
            batch.Set(s.DecodeSteps == 0 ? 0 : (double)s.DecodeRows / s.DecodeSteps);
            hits.IncTo(s.CacheHits);
            misses.IncTo(s.CacheMisses);
            reused.IncTo(s.CachedTokensReused);
            entries.Set(s.CacheEntries);
            bytes.Set(s.CacheBytes);
            tokensPerSecond.Set(_rate.TokensPerSecond());
        });
    }

    public CollectorRegistry Registry { get; }

    public void RecordRequest(string endpoint, int status) => _requests.WithLabels(endpoint, status.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();

    public void RecordToken(TimeSpan? sincePrevious)
    {
        _streamedTokens.Inc();
        _rate.Add(1);
        if (sincePrevious is TimeSpan gap)
        {
            _interTokenLatency.Observe(gap.TotalSeconds);
        }
    }

    public void RecordTimeToFirstToken(TimeSpan time) => _timeToFirstToken.Observe(time.TotalSeconds);
}

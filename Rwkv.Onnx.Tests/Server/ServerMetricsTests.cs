using Rwkv.Onnx.Serving;

namespace Rwkv.Onnx.Tests.Server;

/// <summary><c>/metrics</c> is Prometheus text with help and type for every metric, and its counters follow the requests.</summary>
[TestFixture]
public sealed class ServerMetricsTests
{
    [Test]
    public async Task Metrics_ParseAsPrometheusText_AndCountersMoveWithRequests()
    {
        await using RunningServer server = await RunningServer.StartAsync();
        MetricSamples before = await MetricSamples.ScrapeAsync(server);

        using (HttpResponseMessage response = await server.PostAsync("/v1/completions", ServerStreams.CompletionBody("Hello", 6)))
        {
            await ServerStreams.ReadCompletionTextAsync(response);
        }
        // The same prompt again: its state comes from the prefix cache.
        using (HttpResponseMessage response = await server.PostAsync("/v1/completions", ServerStreams.CompletionBody("Hello", 6)))
        {
            await ServerStreams.ReadCompletionTextAsync(response);
        }
        using (HttpResponseMessage response = await server.PostAsync("/v1/completions", "{"))
        {
        }
        MetricSamples after = await MetricSamples.ScrapeAsync(server);
        EngineStats stats = server.Engine.GetStats();

        string[] expected =
        [
            "rwkv_http_requests_total", "rwkv_queued_requests", "rwkv_active_sequences", "rwkv_generated_tokens_total",
            "rwkv_generated_tokens_per_second", "rwkv_time_to_first_token_seconds", "rwkv_inter_token_latency_seconds",
            "rwkv_prefix_cache_hits_total", "rwkv_prefix_cache_misses_total", "rwkv_decode_batch_size_mean",
        ];
        Assert.Multiple(() =>
        {
            Assert.That(after.Types.Keys, Is.SupersetOf(expected));
            Assert.That(after.Helped, Is.EquivalentTo(after.Types.Keys), "every metric has # HELP and # TYPE");
            Assert.That(after.Types["rwkv_time_to_first_token_seconds"], Is.EqualTo("histogram"));
            Assert.That(after.Value("rwkv_http_requests_total", ("endpoint", "/v1/completions"), ("status", "200"))
                - before.Value("rwkv_http_requests_total", ("endpoint", "/v1/completions"), ("status", "200")), Is.EqualTo(2));
            Assert.That(after.Value("rwkv_http_requests_total", ("endpoint", "/v1/completions"), ("status", "400")), Is.EqualTo(1));
            Assert.That(after.Value("rwkv_generated_tokens_total") - before.Value("rwkv_generated_tokens_total"), Is.EqualTo(12));
            Assert.That(after.Value("rwkv_generated_tokens_total"), Is.EqualTo(stats.GeneratedTokens));
            Assert.That(after.Value("rwkv_time_to_first_token_seconds_count") - before.Value("rwkv_time_to_first_token_seconds_count"), Is.EqualTo(2));
            Assert.That(after.Value("rwkv_inter_token_latency_seconds_count") - before.Value("rwkv_inter_token_latency_seconds_count"), Is.EqualTo(10), "5 gaps in each 6-token stream");
            Assert.That(after.Value("rwkv_time_to_first_token_seconds_bucket", ("le", "+Inf")), Is.EqualTo(after.Value("rwkv_time_to_first_token_seconds_count")));
            Assert.That(after.Value("rwkv_prefix_cache_hits_total"), Is.EqualTo(stats.CacheHits).And.GreaterThanOrEqualTo(1));
            Assert.That(after.Value("rwkv_active_sequences"), Is.Zero);
        });
    }
}

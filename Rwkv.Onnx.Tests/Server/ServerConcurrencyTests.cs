using System.Net;
using System.Net.ServerSentEvents;
using System.Text.Json;
using Rwkv.Onnx.Server;
using Rwkv.Onnx.Serving;

namespace Rwkv.Onnx.Tests.Server;

/// <summary>Many clients at once: batching leaves each stream's text unchanged; disconnects, time limits and a full queue free or refuse rows.</summary>
[TestFixture]
public sealed class ServerConcurrencyTests
{
    // Long enough that a sequence the server failed to cancel would hold its row for minutes, far past the test's waits.
    private const int EndlessTokens = 1_000_000;

    private static Func<RwkvServerOptions, RwkvServerOptions> AllowEndless => options => options with { MaxTokens = EndlessTokens };

    [Test]
    public async Task SixteenConcurrentStreams_EachGetsTheTextItGetsAlone()
    {
        await using RunningServer server = await RunningServer.StartAsync(new RwkvEngineOptions { MaxConcurrentSequences = 16 });
        // Half greedy (temperature 0), half seeded sampling: the tiny model's greedy text hardly depends on the prompt
        // (" the the the"), so only the sampled half would show streams swapped or states mixed between rows.
        string[] bodies = [.. Enumerable.Range(0, 16).Select(i => JsonSerializer.Serialize(new
        {
            model = ServerTestModel.ModelId,
            prompt = $"Story {i}: the {(i % 3 == 0 ? "red" : "blue")} door opened and",
            max_tokens = 24,
            temperature = i < 8 ? 0 : 1,
            top_p = 1,
            seed = i,
            stream = true,
        }))];
        var alone = new List<string>();
        foreach (string body in bodies)
        {
            using HttpResponseMessage response = await server.PostAsync("/v1/completions", body);
            alone.Add(await ServerStreams.ReadCompletionTextAsync(response));
        }
        EngineStats before = server.Engine.GetStats();

        string[] together = await Task.WhenAll(bodies.Select(async body =>
        {
            using HttpResponseMessage response = await server.PostAsync("/v1/completions", body);
            return await ServerStreams.ReadCompletionTextAsync(response);
        }));

        EngineStats after = server.Engine.GetStats();
        double meanBatch = (double)(after.DecodeRows - before.DecodeRows) / (after.DecodeSteps - before.DecodeSteps);
        Assert.Multiple(() =>
        {
            Assert.That(together, Is.EqualTo(alone));
            Assert.That(alone.Skip(8).Distinct().Count(), Is.EqualTo(8), "the sampled texts all differ: a mix-up between streams would show");
            Assert.That(meanBatch, Is.GreaterThan(2), "the concurrent streams were decoded in shared batched steps");
        });
    }

    [Test]
    public async Task ClientDisconnectMidStream_FreesTheRowForTheQueuedRequest()
    {
        await using RunningServer server = await RunningServer.StartAsync(new RwkvEngineOptions { MaxConcurrentSequences = 1, MaxQueuedRequests = 1 }, AllowEndless);
        using var disconnect = new CancellationTokenSource();
        HttpResponseMessage endless = await server.PostAsync("/v1/completions", ServerStreams.CompletionBody("Go on and on", EndlessTokens), cancellationToken: disconnect.Token);
        await ReadEventsAsync(endless, 3, disconnect.Token);
        Assert.That(server.Engine.GetStats().ActiveSequences, Is.EqualTo(1));

        // The only row is taken: this request waits in the queue until the endless one lets go of it.
        Task<HttpResponseMessage> queued = server.PostAsync("/v1/completions", ServerStreams.CompletionBody("Next please", 8));
        await disconnect.CancelAsync();
        endless.Dispose();

        using HttpResponseMessage next = await queued.WaitAsync(TimeSpan.FromSeconds(60));
        string text = await ServerStreams.ReadCompletionTextAsync(next);
        MetricSamples metrics = await MetricSamples.ScrapeAsync(server);
        Assert.Multiple(() =>
        {
            Assert.That(text, Is.Not.Empty);
            Assert.That(metrics.Value("rwkv_http_requests_total", ("endpoint", "/v1/completions"), ("status", "499")), Is.EqualTo(1), "the disconnect is counted");
        });
        await WaitUntilAsync(() => server.Engine.GetStats().ActiveSequences == 0, "every row is free at the end");
    }

    [Test]
    public async Task QueueFull_Returns429WithRetryAfter()
    {
        await using RunningServer server = await RunningServer.StartAsync(new RwkvEngineOptions { MaxConcurrentSequences = 1, MaxQueuedRequests = 0 }, AllowEndless);
        using var disconnect = new CancellationTokenSource();
        using HttpResponseMessage endless = await server.PostAsync("/v1/completions", ServerStreams.CompletionBody("Go on and on", EndlessTokens), cancellationToken: disconnect.Token);
        await ReadEventsAsync(endless, 2, disconnect.Token);

        using HttpResponseMessage refused = await server.PostAsync("/v1/completions", ServerStreams.CompletionBody("Me too", 4, stream: false));
        var error = await RunningServer.ReadErrorAsync(refused);
        await disconnect.CancelAsync();

        Assert.Multiple(() =>
        {
            Assert.That(error.Status, Is.EqualTo(429));
            Assert.That(error.Code, Is.EqualTo("queue_full"));
            Assert.That(refused.Headers.RetryAfter?.Delta, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(1)));
        });
    }

    [Test]
    public async Task RequestTimeLimit_NonStreamedRequestGets408AndFreesItsRow()
    {
        await using RunningServer server = await RunningServer.StartAsync(null, options => options with { MaxTokens = EndlessTokens, RequestTimeout = TimeSpan.FromSeconds(1) });

        using HttpResponseMessage response = await server.PostAsync("/v1/completions", ServerStreams.CompletionBody("Go on and on", EndlessTokens, stream: false));

        var error = await RunningServer.ReadErrorAsync(response);
        Assert.Multiple(() =>
        {
            Assert.That(error.Status, Is.EqualTo((int)HttpStatusCode.RequestTimeout));
            Assert.That(error.Code, Is.EqualTo("request_timeout"));
            Assert.That(error.Message, Does.Contain("--request-timeout"));
        });
        await WaitUntilAsync(() => server.Engine.GetStats().ActiveSequences == 0, "the timed-out sequence left its row");
    }

    private static async Task ReadEventsAsync(HttpResponseMessage response, int count, CancellationToken cancellationToken)
    {
        Assert.That((int)response.StatusCode, Is.EqualTo(200));
        int seen = 0;
        await foreach (SseItem<string> _ in SseParser.Create(await response.Content.ReadAsStreamAsync(cancellationToken)).EnumerateAsync(cancellationToken))
        {
            if (++seen == count)
            {
                return;
            }
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        for (int i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(50);
        }
        Assert.That(condition(), Is.True, what);
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Rwkv.Onnx.Cli.Bench.Serve;

/// <summary>
/// Drives a running server: every load level (N concurrent streamed completions of distinct prompts, so the prefix cache
/// cannot help) and the chat workload (a long history cold, again, then continued) once per round, rounds after one
/// warm-up, so a change in the machine's load spreads over all levels instead of skewing one.
/// </summary>
internal sealed class ServeBenchRunner(ServeClient client, ServeBenchPlan plan, TextWriter progress)
{
    private static readonly string[] s_topics = ["rivers", "old maps", "bread", "winter", "trains", "bees", "lighthouses", "chess"];

    public async Task<ServeBenchResult> RunAsync(CancellationToken cancellationToken)
    {
        progress.WriteLine("warm-up");
        await LoadAsync(plan.Streams.Min(), round: -1, cancellationToken).ConfigureAwait(false);
        await CacheAsync(round: -1, cancellationToken).ConfigureAwait(false);

        var loads = plan.Streams.ToDictionary(n => n, _ => new List<(double TokensPerSecond, List<StreamTiming> Streams)>());
        var caches = new List<(StreamTiming Cold, StreamTiming Repeat, StreamTiming Next)>();
        for (int round = 0; round < plan.Rounds; round++)
        {
            foreach (int streams in plan.Streams)
            {
                var result = await LoadAsync(streams, round, cancellationToken).ConfigureAwait(false);
                loads[streams].Add(result);
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {round + 1}/{plan.Rounds}: {streams} streams: {result.TokensPerSecond:F1} tok/s"));
            }
            var cache = await CacheAsync(round, cancellationToken).ConfigureAwait(false);
            caches.Add(cache);
            progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"round {round + 1}/{plan.Rounds}: history of {cache.Cold.PromptTokens} tokens: cold {Ms(cache.Cold.TimeToFirstToken):F0} ms, again {Ms(cache.Repeat.TimeToFirstToken):F0} ms, next turn {Ms(cache.Next.TimeToFirstToken):F0} ms"));
        }

        var levels = plan.Streams.Select(streams =>
        {
            List<StreamTiming> all = [.. loads[streams].SelectMany(r => r.Streams)];
            List<double> ttft = [.. all.Select(s => Ms(s.TimeToFirstToken))];
            List<double> gaps = [.. all.SelectMany(s => s.Gaps).Select(Ms)];
            return new LoadLevelResult(streams, Median([.. loads[streams].Select(r => r.TokensPerSecond)]),
                Percentile(ttft, 50), Percentile(ttft, 99), Percentile(gaps, 50), Percentile(gaps, 99));
        }).ToList();
        var prefix = new PrefixCacheResult(
            caches[0].Cold.PromptTokens,
            Median([.. caches.Select(c => Ms(c.Cold.TimeToFirstToken))]),
            Median([.. caches.Select(c => Ms(c.Repeat.TimeToFirstToken))]),
            caches[0].Repeat.CachedTokens,
            Median([.. caches.Select(c => Ms(c.Next.TimeToFirstToken))]),
            caches[0].Next.PromptTokens,
            caches[0].Next.CachedTokens);
        return new ServeBenchResult(levels, prefix, plan.Rounds, plan.MaxTokens);
    }

    // N streams at once; aggregate tokens/s = all generated tokens over the wall time from the first send to the last [DONE].
    private async Task<(double TokensPerSecond, List<StreamTiming> Streams)> LoadAsync(int streams, int round, CancellationToken cancellationToken)
    {
        long start = Stopwatch.GetTimestamp();
        StreamTiming[] timings = await Task.WhenAll(Enumerable.Range(0, streams).Select(i =>
            client.CompleteAsync($"Round {round}, stream {i} of {streams}: a short note about {s_topics[i % s_topics.Length]}.\n", plan.MaxTokens, cancellationToken)))
            .ConfigureAwait(false);
        TimeSpan wall = Stopwatch.GetElapsedTime(start);
        return (timings.Sum(t => t.CompletionTokens) / wall.TotalSeconds, [.. timings]);
    }

    // A conversation of about HistoryTokens tokens, new to the server (the round is in its first message): cold, the
    // same messages again (served from the prefix cache), then the next turn, which re-sends the history as clients do.
    private async Task<(StreamTiming Cold, StreamTiming Repeat, StreamTiming Next)> CacheAsync(int round, CancellationToken cancellationToken)
    {
        List<(string Role, string Content)> history = History(round);
        StreamTiming cold = await client.ChatAsync(history, 1, cancellationToken).ConfigureAwait(false);
        StreamTiming repeat = await client.ChatAsync(history, 1, cancellationToken).ConfigureAwait(false);
        List<(string Role, string Content)> next = [.. history, ("assistant", "I see."), ("user", "And what happened next?")];
        StreamTiming nextTurn = await client.ChatAsync(next, 1, cancellationToken).ConfigureAwait(false);
        return (cold, repeat, nextTurn);
    }

    private List<(string Role, string Content)> History(int round)
    {
        // About 4.5 characters per token for English with the World tokenizer.
        var messages = new List<(string Role, string Content)> { ("system", $"Conversation {round} ({Guid.NewGuid():N}). You are a helpful assistant.") };
        int characters = 0;
        for (int turn = 0; characters < plan.HistoryTokens * 4.5; turn++)
        {
            string topic = s_topics[turn % s_topics.Length];
            var user = new StringBuilder($"Tell me something about {topic}, part {turn}. ");
            var reply = new StringBuilder($"Here is part {turn} about {topic}: ");
            for (int sentence = 0; sentence < 6; sentence++)
            {
                reply.Append(CultureInfo.InvariantCulture, $"Fact {sentence} is that {topic} were studied in year {1800 + (turn * 7) + sentence} by a curious person. ");
            }
            messages.Add(("user", user.ToString()));
            messages.Add(("assistant", reply.ToString()));
            characters += user.Length + reply.Length;
        }
        messages.Add(("user", "Please summarise what we talked about."));
        return messages;
    }

    private static double Ms(TimeSpan time) => time.TotalMilliseconds;

    private static double Median(List<double> values) => Percentile(values, 50);

    // Nearest rank.
    private static double Percentile(List<double> values, double percent)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }
        values.Sort();
        int rank = (int)Math.Ceiling(percent / 100 * values.Count);
        return values[Math.Clamp(rank - 1, 0, values.Count - 1)];
    }
}

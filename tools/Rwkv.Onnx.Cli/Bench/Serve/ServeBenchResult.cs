using System.Globalization;
using System.Text;

namespace Rwkv.Onnx.Cli.Bench.Serve;

/// <summary>One load level: aggregate output tokens/s (median over rounds) and client-side latency percentiles (pooled over rounds).</summary>
internal sealed record LoadLevelResult(int Streams, double TokensPerSecond, double TtftP50Ms, double TtftP99Ms, double ItlP50Ms, double ItlP99Ms);

/// <summary>The chat workload: a history's time to first token cold, sent again, and continued by one more turn (medians).</summary>
internal sealed record PrefixCacheResult(int PromptTokens, double ColdMs, double RepeatMs, int RepeatCachedTokens, double NextTurnMs, int NextTurnPromptTokens, int NextTurnCachedTokens)
{
    public double RepeatRatio => ColdMs > 0 ? RepeatMs / ColdMs : double.NaN;
}

/// <summary>The results of <c>bench serve</c> as Markdown, with the issue's two goals marked met or not.</summary>
internal sealed record ServeBenchResult(IReadOnlyList<LoadLevelResult> Levels, PrefixCacheResult Cache, int Rounds, int MaxTokens)
{
    /// <summary>The goal for 16 streams: at least this many times the single stream's aggregate tokens/s.</summary>
    public const double BatchingGoal = 6;

    /// <summary>The goal for a repeated history: at most this fraction of its cold prefill.</summary>
    public const double CacheGoal = 0.10;

    public string ToMarkdown()
    {
        var text = new StringBuilder();
        double single = Levels.FirstOrDefault(level => level.Streams == 1)?.TokensPerSecond ?? double.NaN;
        text.AppendLine(CultureInfo.InvariantCulture, $"Load: {MaxTokens} output tokens per stream, greedy; medians of {Rounds} interleaved rounds (latency percentiles pooled over rounds, client side).");
        text.AppendLine();
        text.AppendLine("| streams | aggregate tok/s | × 1 stream | TTFT p50 (ms) | TTFT p99 (ms) | inter-token p50 (ms) | inter-token p99 (ms) |");
        text.AppendLine("|---:|---:|---:|---:|---:|---:|---:|");
        foreach (LoadLevelResult level in Levels)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {level.Streams} | {level.TokensPerSecond:F1} | {level.TokensPerSecond / single:F2} | {level.TtftP50Ms:F0} | {level.TtftP99Ms:F0} | {level.ItlP50Ms:F1} | {level.ItlP99Ms:F1} |");
        }
        text.AppendLine();
        text.AppendLine("| chat history | prompt tokens | cached tokens | TTFT (ms) | × cold |");
        text.AppendLine("|---|---:|---:|---:|---:|");
        text.AppendLine(CultureInfo.InvariantCulture, $"| cold (new conversation) | {Cache.PromptTokens} | 0 | {Cache.ColdMs:F0} | 1.00 |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| the same history again | {Cache.PromptTokens} | {Cache.RepeatCachedTokens} | {Cache.RepeatMs:F0} | {Cache.RepeatRatio:F3} |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| next turn (history + reply + new message) | {Cache.NextTurnPromptTokens} | {Cache.NextTurnCachedTokens} | {Cache.NextTurnMs:F0} | {Cache.NextTurnMs / Cache.ColdMs:F3} |");
        text.AppendLine();
        if (Levels.FirstOrDefault(level => level.Streams == 16) is { } sixteen)
        {
            double speedup = sixteen.TokensPerSecond / single;
            text.AppendLine(CultureInfo.InvariantCulture, $"Goal: 16 streams >= {BatchingGoal}x one stream: {speedup:F2}x, {(speedup >= BatchingGoal ? "met" : "not met")}.");
        }
        text.AppendLine(CultureInfo.InvariantCulture, $"Goal: a repeated history costs <= {CacheGoal:P0} of its cold prefill: {Cache.RepeatRatio:P1}, {(Cache.RepeatRatio <= CacheGoal ? "met" : "not met")}.");
        return text.ToString();
    }
}

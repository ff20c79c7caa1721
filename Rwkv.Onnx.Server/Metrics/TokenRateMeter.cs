using System.Diagnostics;

namespace Rwkv.Onnx.Server.Metrics;

/// <summary>
/// Tokens streamed per second over the last <see cref="WindowSeconds"/> seconds, in one-second buckets. A gauge a
/// dashboard can show without a query language; Prometheus itself derives the same from the token counter with rate().
/// </summary>
internal sealed class TokenRateMeter
{
    public const int WindowSeconds = 10;

    private readonly long[] _counts = new long[WindowSeconds];
    private readonly long[] _seconds = new long[WindowSeconds];
    private readonly Lock _lock = new();
    private readonly Func<long> _clockSeconds;

    public TokenRateMeter(Func<long>? clockSeconds = null) =>
        _clockSeconds = clockSeconds ?? (() => Stopwatch.GetTimestamp() / Stopwatch.Frequency);

    public void Add(int tokens)
    {
        long now = _clockSeconds();
        int slot = (int)(now % WindowSeconds);
        lock (_lock)
        {
            if (_seconds[slot] != now)
            {
                _seconds[slot] = now;
                _counts[slot] = 0;
            }
            _counts[slot] += tokens;
        }
    }

    /// <summary>Tokens in the last full <see cref="WindowSeconds"/> seconds (the current, partial second excluded), per second.</summary>
    public double TokensPerSecond()
    {
        long now = _clockSeconds();
        long total = 0;
        lock (_lock)
        {
            for (int i = 0; i < WindowSeconds; i++)
            {
                if (_seconds[i] < now && _seconds[i] >= now - WindowSeconds)
                {
                    total += _counts[i];
                }
            }
        }
        return total / (double)WindowSeconds;
    }
}

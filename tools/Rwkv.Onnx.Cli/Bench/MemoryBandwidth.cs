using System.Diagnostics;
using System.Numerics.Tensors;

namespace Rwkv.Onnx.Cli.Bench;

/// <summary>
/// Measures read bandwidth: one thread per logical core sums its slice of a buffer much larger than the caches with
/// <see cref="TensorPrimitives.Sum(ReadOnlySpan{float})"/> (vectorised streaming reads); the best of several passes
/// is the bandwidth in bytes per second.
/// </summary>
internal static class MemoryBandwidth
{
    /// <summary>Default buffer: 1 GiB, far beyond any last-level cache here.</summary>
    public const long DefaultBufferBytes = 1L << 30;

    public static long Measure(long bufferBytes, int passes = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferBytes, 1L << 20);
        int threads = Environment.ProcessorCount;
        var buffer = GC.AllocateUninitializedArray<float>(checked((int)(bufferBytes / sizeof(float))));
        buffer.AsSpan().Fill(1f); // touch every page before timing
        long slice = buffer.Length / threads;
        double best = 0;
        var sums = new float[threads];
        for (int pass = 0; pass < passes; pass++)
        {
            long start = Stopwatch.GetTimestamp();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                int length = (int)(t == threads - 1 ? buffer.Length - slice * t : slice);
                sums[t] += TensorPrimitives.Sum(buffer.AsSpan((int)(slice * t), length));
            });
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            best = Math.Max(best, buffer.LongLength * sizeof(float) / seconds);
        }
        GC.KeepAlive(sums);
        return (long)best;
    }
}

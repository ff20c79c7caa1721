using System.Diagnostics;
using System.Numerics.Tensors;
using Rwkv.Onnx.Export;

namespace Rwkv.Onnx.Cli.Quantization;

/// <summary>
/// Exports a checkpoint once per <see cref="FrontierEntry"/>, compares every export's logits with the fp32 export's on
/// the same tokens (last position and all positions through the prefill graph, and the export's own step graph
/// against its prefill), and optionally times decode in interleaved rounds: each round loads and times every entry
/// in turn, so a change in the machine's load hits all entries alike, and speeds are reported as medians and as
/// ratios to fp32 within a round.
/// </summary>
internal sealed class FrontierRunner(string checkpoint, string workDirectory, float? groupNormEpsilon, bool reuse, TextWriter log)
{
    /// <summary>Measures <paramref name="entries"/> (fp32 is added first if missing).</summary>
    public FrontierReport Run(IReadOnlyList<FrontierEntry> entries, int[] tokens, string tokenSource, int speedRounds, int decodeTokens, int threads, int batch)
    {
        List<FrontierEntry> all = [FrontierEntry.Reference, .. entries.Where(e => e.Label != FrontierEntry.Reference.Label)];
        var directories = all.ToDictionary(e => e.Label, Export);
        float[] reference = Logits(directories[FrontierEntry.Reference.Label], tokens, RwkvForwardMode.Prefill, out int vocab);
        var rows = new List<FrontierRow>();
        foreach (FrontierEntry entry in all)
        {
            string dir = directories[entry.Label];
            float[] prefill = Logits(dir, tokens, RwkvForwardMode.Prefill, out _);
            float[] step = Logits(dir, tokens, RwkvForwardMode.Step, out _);
            rows.Add(Compare(entry.Label, prefill, reference, step, vocab, tokens.Length, new FileInfo(Path.Combine(dir, RwkvContract.WeightsFile)).Length));
            log.WriteLine($"accuracy: {entry.Label}: last-position mean {rows[^1].LastMeanAbs:G3}, max {rows[^1].LastMaxAbs:G3}");
        }
        string? load = null;
        if (speedRounds > 0)
        {
            load = LoadAverage();
            var speeds = all.ToDictionary(e => e.Label, _ => new List<double>());
            for (int round = 0; round < speedRounds; round++)
            {
                foreach (FrontierEntry entry in all)
                {
                    speeds[entry.Label].Add(DecodeTokensPerS(directories[entry.Label], decodeTokens, threads, batch));
                }
                log.WriteLine($"speed round {round + 1}/{speedRounds}: {string.Join(", ", all.Select(e => $"{e.Label} {speeds[e.Label][^1]:F1}"))}");
            }
            load = $"{load} → {LoadAverage()}";
            List<double> fp32 = speeds[FrontierEntry.Reference.Label];
            rows = [.. rows.Select(r => r with
            {
                DecodeTokensPerS = Median(speeds[r.Label]),
                DecodeVsFp32 = Median([.. speeds[r.Label].Zip(fp32, (x, f) => x / f)]),
            })];
        }
        return new FrontierReport(Path.GetFileName(checkpoint), tokens.Length, tokenSource, batch, threads, speedRounds, decodeTokens, load, rows);
    }

    private string Export(FrontierEntry entry)
    {
        string dir = Path.Combine(workDirectory, entry.DirectoryName);
        if (reuse && File.Exists(Path.Combine(dir, RwkvContract.ManifestFile)))
        {
            return dir;
        }
        var clock = Stopwatch.StartNew();
        RwkvExporter.Export(checkpoint, dir, entry.Options(groupNormEpsilon));
        log.WriteLine($"exported {entry.Label} in {clock.Elapsed.TotalSeconds:F1} s");
        return dir;
    }

    private static float[] Logits(string dir, int[] tokens, RwkvForwardMode mode, out int vocab)
    {
        using RwkvModel model = RwkvModel.Load(dir);
        vocab = model.VocabSize;
        using RwkvRunner runner = model.CreateRunner();
        using RwkvState state = model.CreateState();
        var logits = new float[tokens.Length * vocab];
        runner.ForwardAll(tokens, state, logits, mode);
        return logits;
    }

    private static FrontierRow Compare(string label, float[] x, float[] y, float[] step, int vocab, int n, long weightsBytes)
    {
        double sum = 0, max = 0, lastSum = 0, lastMax = 0, stepMax = 0;
        int agree = 0;
        for (int t = 0; t < n; t++)
        {
            ReadOnlySpan<float> a = x.AsSpan(t * vocab, vocab), b = y.AsSpan(t * vocab, vocab), s = step.AsSpan(t * vocab, vocab);
            double rowSum = 0, rowMax = 0;
            for (int i = 0; i < vocab; i++)
            {
                double d = Math.Abs((double)a[i] - b[i]);
                rowSum += d;
                rowMax = Math.Max(rowMax, d);
                stepMax = Math.Max(stepMax, Math.Abs((double)s[i] - a[i]));
            }
            sum += rowSum;
            max = Math.Max(max, rowMax);
            (lastSum, lastMax) = (rowSum, rowMax);
            agree += TensorPrimitives.IndexOfMax(a) == TensorPrimitives.IndexOfMax(b) ? 1 : 0;
        }
        return new FrontierRow(label, lastSum / vocab, lastMax, sum / ((double)n * vocab), max, (double)agree / n, stepMax, weightsBytes);
    }

    // Decode steps per second, batch sequences at a time, after 8 warm-up steps; load time excluded.
    private static double DecodeTokensPerS(string dir, int steps, int threads, int batch)
    {
        using RwkvModel model = RwkvModel.Load(dir, new RwkvModelOptions { IntraOpThreads = threads });
        using RwkvRunner runner = model.CreateRunner();
        using RwkvState state = model.CreateState(batch);
        var random = new Random(1);
        var logits = new float[batch * model.VocabSize];
        var ids = new int[batch];
        void Step()
        {
            for (int b = 0; b < batch; b++)
            {
                ids[b] = random.Next(model.VocabSize);
            }
            runner.ForwardBatch(ids, 1, state, logits, RwkvForwardMode.Step);
        }
        for (int i = 0; i < 8; i++)
        {
            Step();
        }
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++)
        {
            Step();
        }
        return steps * batch / clock.Elapsed.TotalSeconds;
    }

    private static double Median(List<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string? LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : null;
}

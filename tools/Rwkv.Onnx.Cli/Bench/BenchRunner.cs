using System.Diagnostics;
using System.Numerics.Tensors;
using Rwkv.Onnx.Export;

namespace Rwkv.Onnx.Cli.Bench;

/// <summary>What <c>rwkv-onnx bench</c> runs: every provider × batch, each with a warm-up then <see cref="Repeat"/> timed repeats.</summary>
internal sealed record BenchPlan(
    string ModelDirectory, IReadOnlyList<RwkvExecutionProvider> Providers, IReadOnlyList<int> Batches,
    int PrefillTokens, int DecodeTokens, int Threads, int Repeat, long BandwidthBufferBytes);

/// <summary>
/// Runs a <see cref="BenchPlan"/>. One repeat: reset the state, prefill the prompt (batch × T random tokens) through
/// <c>prefill.onnx</c>, then decode greedily one token per sequence per step through <c>step.onnx</c>, timing every step.
/// The warm-up is one such repeat, untimed. Progress goes to <c>progress</c> as (stage, done, total). The plan's sizes
/// and memory are checked beforehand by <see cref="BenchLimits"/>.
/// </summary>
internal static class BenchRunner
{
    public static BenchReport Run(BenchPlan plan, RwkvManifest manifest, IProgress<(string Stage, int Done, int Total)> progress)
    {
        RwkvModelCost cost = RwkvModelCost.Read(plan.ModelDirectory, manifest);

        var measured = new List<BenchResult>();
        foreach (RwkvExecutionProvider provider in plan.Providers)
        {
            foreach (int batch in plan.Batches)
            {
                measured.Add(RunConfiguration(plan, manifest, cost, provider, batch, progress));
            }
        }

        // Last, so its buffer never counts in a configuration's peak RSS.
        progress.Report(("memory bandwidth", 0, 1));
        long bandwidth = MemoryBandwidth.Measure(plan.BandwidthBufferBytes);
        progress.Report(("memory bandwidth", 1, 1));
        // One step reads the step weights once for the whole batch and takes 1 / (per-sequence decode rate) seconds.
        List<BenchResult> results = [.. measured.Select(r => r with
        {
            BandwidthBytesPerS = bandwidth,
            DecodeRooflineFraction = (double)cost.StepWeightBytes / bandwidth * r.DecodeTokensPerSPerSequence,
        })];
        RwkvArchitectureInfo a = manifest.Architecture;
        return new BenchReport
        {
            CreatedUtc = DateTime.UtcNow,
            Model = new BenchModel(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(plan.ModelDirectory))),
                a.Version, a.Layers, a.Embedding, a.Vocab, a.Parameters, manifest.WeightDType, cost.StepWeightBytes, cost.PrefillFlopsPerToken),
            Machine = MachineProbe.Describe(bandwidth, plan.BandwidthBufferBytes),
            Settings = new BenchSettings(plan.PrefillTokens, plan.DecodeTokens, plan.Repeat, Warmup: 1, RwkvModelOptions.DefaultPrefillChunkSize),
            Results = results,
        };
    }

    private static BenchResult RunConfiguration(
        BenchPlan plan, RwkvManifest manifest, RwkvModelCost cost, RwkvExecutionProvider provider, int batch,
        IProgress<(string Stage, int Done, int Total)> progress)
    {
        string stage = $"{ProviderName(provider)} batch {batch}";
        int total = plan.Repeat + 2;
        progress.Report((stage + ": load", 0, total));
        MachineProbe.ResetPeakRss();
        long loadStart = Stopwatch.GetTimestamp();
        using RwkvModel model = RwkvModel.Load(plan.ModelDirectory, new RwkvModelOptions { ExecutionProvider = provider, IntraOpThreads = plan.Threads });
        double loadMs = Stopwatch.GetElapsedTime(loadStart).TotalMilliseconds;
        using RwkvState state = model.CreateState(batch);
        using RwkvRunner runner = model.CreateRunner();

        int vocab = model.VocabSize;
        var random = new Random(1234);
        var prompt = new int[checked(batch * plan.PrefillTokens)];
        for (int i = 0; i < prompt.Length; i++)
        {
            prompt[i] = random.Next(vocab);
        }
        var logits = new float[checked(batch * vocab)];
        var next = new int[batch];

        progress.Report((stage + ": warm-up", 1, total));
        RunOnce(runner, state, prompt, plan, batch, vocab, logits, next, stepMs: null);

        var prefillMs = new List<double>();
        var decodeMs = new List<double>();
        var stepMs = new List<double>();
        for (int r = 0; r < plan.Repeat; r++)
        {
            progress.Report(($"{stage}: repeat {r + 1}/{plan.Repeat}", r + 2, total));
            (double prefill, double decode) = RunOnce(runner, state, prompt, plan, batch, vocab, logits, next, stepMs);
            prefillMs.Add(prefill);
            decodeMs.Add(decode);
        }
        progress.Report((stage + ": done", total, total));

        double prefillSeconds = Median(prefillMs) / 1000;
        double decodeSeconds = Median(decodeMs) / 1000;
        stepMs.Sort();
        return new BenchResult
        {
            Provider = ProviderName(provider),
            Dtype = manifest.WeightDType,
            Batch = batch,
            Threads = plan.Threads > 0 ? plan.Threads : Environment.ProcessorCount,
            LoadMs = loadMs,
            PrefillTokensPerS = (double)batch * plan.PrefillTokens / prefillSeconds,
            PrefillTokensPerSPerSequence = plan.PrefillTokens / prefillSeconds,
            DecodeTokensPerS = (double)batch * plan.DecodeTokens / decodeSeconds,
            DecodeTokensPerSPerSequence = plan.DecodeTokens / decodeSeconds,
            TtftMs = Median(prefillMs),
            LatencyMs = new LatencyPercentiles(Percentile(stepMs, 0.50), Percentile(stepMs, 0.90), Percentile(stepMs, 0.99)),
            PeakRssBytes = MachineProbe.PeakRssBytes(),
            PrivateBytes = MachineProbe.PrivateBytes(),
            BandwidthBytesPerS = double.NaN,        // filled in by Run once bandwidth is measured
            DecodeRooflineFraction = double.NaN,
            PrefillGflops = cost.PrefillFlops(batch, plan.PrefillTokens) / prefillSeconds / 1e9,
        };
    }

    /// <summary>One repeat; returns (prefill ms, decode ms) and appends each step's ms to <paramref name="stepMs"/>.</summary>
    private static (double PrefillMs, double DecodeMs) RunOnce(
        RwkvRunner runner, RwkvState state, int[] prompt, BenchPlan plan, int batch, int vocab, float[] logits, int[] next,
        List<double>? stepMs)
    {
        state.Reset();
        long start = Stopwatch.GetTimestamp();
        runner.ForwardBatch(prompt, plan.PrefillTokens, state, logits, RwkvForwardMode.Prefill);
        double prefillMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;

        long decodeStart = Stopwatch.GetTimestamp();
        for (int t = 0; t < plan.DecodeTokens; t++)
        {
            long stepStart = Stopwatch.GetTimestamp();
            for (int b = 0; b < batch; b++)
            {
                next[b] = TensorPrimitives.IndexOfMax(logits.AsSpan(b * vocab, vocab));
            }
            runner.ForwardBatch(next, 1, state, logits, RwkvForwardMode.Step);
            stepMs?.Add(Stopwatch.GetElapsedTime(stepStart).TotalMilliseconds);
        }
        return (prefillMs, Stopwatch.GetElapsedTime(decodeStart).TotalMilliseconds);
    }

    internal static string ProviderName(RwkvExecutionProvider provider) => provider switch
    {
        RwkvExecutionProvider.Cpu => "cpu",
        RwkvExecutionProvider.Cuda => "cuda",
        RwkvExecutionProvider.DirectML => "dml",
        _ => provider.ToString().ToLowerInvariant(),
    };

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        int mid = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>Nearest-rank percentile of an ascending list.</summary>
    private static double Percentile(List<double> sorted, double fraction) =>
        sorted[Math.Clamp((int)Math.Ceiling(fraction * sorted.Count) - 1, 0, sorted.Count - 1)];
}

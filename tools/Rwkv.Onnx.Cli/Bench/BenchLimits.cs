using System.Globalization;
using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx.Cli.Bench;

/// <summary>
/// What bench checks before its first measurement, so that a plan that cannot run fails in a second with one line
/// naming the option, instead of after an hour, or killed by the kernel: every buffer size it computes from the
/// options fits in one .NET array, and every configuration's memory estimate fits in the available memory.
/// </summary>
internal static class BenchLimits
{
    /// <summary>The largest <c>--bandwidth-buffer-mib</c>: the bandwidth test's buffer is one float array (8 GiB).</summary>
    public static readonly int MaxBandwidthBufferMiB = (int)((long)Array.MaxLength * sizeof(float) >> 20);

    private static readonly CultureInfo s_invariant = CultureInfo.InvariantCulture;

    /// <summary>The sizes that depend on the options alone.</summary>
    /// <exception cref="UsageException">A buffer would exceed the largest .NET array.</exception>
    public static void CheckPlan(BenchPlan plan)
    {
        foreach (int batch in plan.Batches)
        {
            long promptTokens = (long)batch * plan.PrefillTokens;
            if (promptTokens > Array.MaxLength)
            {
                throw new UsageException(string.Create(s_invariant,
                    $"--batch {batch} with --prefill {plan.PrefillTokens} makes a prompt of {promptTokens} tokens, more than one buffer holds ({Array.MaxLength}); at this --prefill, --batch can be at most {Array.MaxLength / plan.PrefillTokens}."));
            }
        }
        long steps = (long)plan.Repeat * plan.DecodeTokens;
        if (steps > Array.MaxLength)
        {
            throw new UsageException(string.Create(s_invariant,
                $"--repeat {plan.Repeat} with --decode {plan.DecodeTokens} times {steps} decode steps, more than bench can keep the times of ({Array.MaxLength}); lower --repeat or --decode."));
        }
    }

    /// <summary>
    /// Every configuration's memory estimate against the available memory (the check that matters on most machines), then
    /// the buffer sizes that depend on the model (which matter where memory is plentiful), then the bandwidth buffer.
    /// </summary>
    /// <exception cref="UsageException">A buffer would exceed the largest .NET array.</exception>
    /// <exception cref="MemoryLimitExceededException">A configuration, or the bandwidth test, would not fit in the available memory.</exception>
    public static void CheckModel(BenchPlan plan, RwkvManifest manifest)
    {
        foreach (RwkvExecutionProvider provider in plan.Providers.Distinct())
        {
            foreach (int batch in plan.Batches.Distinct())
            {
                RequireMemory(plan, manifest, provider, batch);
            }
        }
        int vocab = manifest.Architecture.Vocab;
        RwkvStateTensorInfo largest = manifest.State.MaxBy(s => s.Shape.Aggregate(1L, (p, d) => p * d))!;
        long stateElements = largest.Shape.Aggregate(1L, (p, d) => p * d);
        foreach (int batch in plan.Batches)
        {
            if ((long)batch * vocab > Array.MaxLength)
            {
                throw new UsageException(string.Create(s_invariant,
                    $"--batch {batch}: the logits of {batch} sequences × vocabulary {vocab} are {(long)batch * vocab} floats, more than one buffer holds ({Array.MaxLength}); for this model --batch can be at most {Array.MaxLength / vocab}."));
            }
            if (batch * stateElements > Array.MaxLength)
            {
                throw new UsageException(string.Create(s_invariant,
                    $"--batch {batch}: state tensor '{largest.Input}' of {batch} sequences × {stateElements} floats is more than one buffer holds ({Array.MaxLength}); for this model --batch can be at most {Array.MaxLength / stateElements}."));
            }
        }
        AvailableMemory.Reading available = AvailableMemory.Read();
        if (plan.BandwidthBufferBytes > available.Bytes)
        {
            throw new MemoryLimitExceededException(plan.BandwidthBufferBytes, available.Bytes, string.Create(s_invariant,
                $"--bandwidth-buffer-mib {plan.BandwidthBufferBytes >> 20} needs {AvailableMemory.FormatBytes(plan.BandwidthBufferBytes)} of memory; {AvailableMemory.FormatBytes(available.Bytes)} is available ({available.Source})."));
        }
    }

    /// <summary>
    /// One configuration: the loaded model (on the CPU about its weights file again, the packed float32 copy of the
    /// matrices; twice that for fp16 weights, which the CPU provider widens), the runtime's estimate for the batch and
    /// prompt chunk, and bench's own prompt, logits and step-time buffers.
    /// </summary>
    public static RwkvMemoryEstimate Estimate(BenchPlan plan, RwkvManifest manifest, RwkvExecutionProvider provider, int batch)
    {
        bool cpu = provider == RwkvExecutionProvider.Cpu;
        long model = cpu ? manifest.Weights.Bytes * (manifest.WeightDType == "fp16" ? 2 : 1) : 0;
        long own = 4L * batch * plan.PrefillTokens + 4L * batch * manifest.Architecture.Vocab + 4L * batch + 16L * plan.Repeat * plan.DecodeTokens;
        return RwkvMemoryEstimate.ForGeneration(manifest, batch, plan.PrefillTokens, RwkvModelOptions.DefaultPrefillChunkSize, provider)
            + new RwkvMemoryEstimate { ModelBytes = model, BufferBytes = own };
    }

    // The runtime's own description of an estimate is internal to it; the parts are public, and worded as it words them.
    private static string Describe(RwkvMemoryEstimate estimate) => string.Join(", ", new (string Name, long Bytes)[]
    {
        ("model", estimate.ModelBytes), ("state", estimate.StateBytes), ("logits and tokens", estimate.BufferBytes), ("activations", estimate.ActivationBytes),
    }.Where(p => p.Bytes > 0).Select(p => $"{p.Name} {AvailableMemory.FormatBytes(p.Bytes)}"));

    private static void RequireMemory(BenchPlan plan, RwkvManifest manifest, RwkvExecutionProvider provider, int batch)
    {
        RwkvMemoryEstimate estimate = Estimate(plan, manifest, provider, batch);
        AvailableMemory.Reading available = AvailableMemory.Read();
        if (estimate.TotalBytes > available.Bytes)
        {
            throw new MemoryLimitExceededException(estimate.TotalBytes, available.Bytes, string.Create(s_invariant,
                $"--batch {batch} with --prefill {plan.PrefillTokens} on {BenchRunner.ProviderName(provider)} needs an estimated {AvailableMemory.FormatBytes(estimate.TotalBytes)} of memory ({Describe(estimate)}); " +
                $"{AvailableMemory.FormatBytes(available.Bytes)} is available ({available.Source}). Lower --batch or --prefill."));
        }
    }
}

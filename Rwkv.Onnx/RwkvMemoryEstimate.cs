namespace Rwkv.Onnx;

/// <summary>
/// The host memory a run of a loaded <see cref="RwkvModel"/> allocates, estimated from its manifest before anything is
/// allocated: the state's two buffer sets, the logits and token buffers, and the intermediate tensors (activations)
/// ONNX Runtime keeps for the largest graph run; the model itself only in <see cref="ModelBytes"/>, which the runtime's
/// estimates leave zero because the model is loaded by the time they are made. The runtime checks
/// such an estimate against the memory the process can still allocate before it creates a state, binds a state for
/// decoding and runs a prefill, and throws <see cref="Exceptions.MemoryLimitExceededException"/> when it does not fit.
/// </summary>
/// <remarks>
/// <para>The state and buffers are counted exactly. The activations are estimated from the manifest's
/// <see cref="RwkvManifest.Activations"/>, which the exporter derives from the graphs' structure and multiples that were
/// measured: floats per token of a prefill chunk, floats per token of the chunk padded to the WKV chunk length inside a
/// chunked recurrence, and floats per sequence of a decode step. Fitted to <c>rwkv-onnx bench</c> runs of the 0.1B
/// shapes at batch 1 to 256 and chunks of 1 to 256 tokens, the whole estimate was within −7 % and +26 % of the measured
/// memory (BENCHMARKS.md, "Memory estimate"). ONNX Runtime's arena grows in steps, so a large run can take a little more.</para>
/// <para>Activations live in the model's provider: on a GPU provider they are device memory, which this estimate
/// does not check; <see cref="ActivationBytes"/> is then zero.</para>
/// </remarks>
public sealed record RwkvMemoryEstimate
{
    /// <summary>
    /// The loaded model's own memory, for an estimate made before loading (as <c>rwkv-onnx bench</c> does); the
    /// runtime's estimates, made for a loaded model, leave it zero.
    /// </summary>
    public long ModelBytes { get; init; }

    /// <summary>The state's two buffer sets (the past and present of every state tensor, float32), in bytes.</summary>
    public long StateBytes { get; init; }

    /// <summary>The logits and token buffers the runner allocates, in bytes.</summary>
    public long BufferBytes { get; init; }

    /// <summary>ONNX Runtime's intermediate tensors for the largest run, in bytes (zero on GPU providers).</summary>
    public long ActivationBytes { get; init; }

    /// <summary>The sum of the parts, in bytes; <see cref="long.MaxValue"/> when that does not fit in a long.</summary>
    public long TotalBytes => Sum(Sum(ModelBytes, StateBytes), Sum(BufferBytes, ActivationBytes));

    /// <summary>
    /// What generating <paramref name="batchSize"/> sequences together needs: their state, a decode step, and the
    /// prefill of one chunk of the prompt (at most <paramref name="prefillChunkSize"/> tokens per sequence).
    /// </summary>
    /// <param name="manifest">The model's manifest.</param>
    /// <param name="batchSize">The number of sequences; at least 1.</param>
    /// <param name="promptTokens">Prompt tokens per sequence; at least 1.</param>
    /// <param name="prefillChunkSize">The runner's <see cref="RwkvRunner.PrefillChunkSize"/>.</param>
    /// <param name="provider">The execution provider; activations count on the CPU only.</param>
    /// <returns>The estimate.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="manifest"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A count is less than 1.</exception>
    public static RwkvMemoryEstimate ForGeneration(RwkvManifest manifest, int batchSize, int promptTokens,
        int prefillChunkSize = RwkvModelOptions.DefaultPrefillChunkSize, RwkvExecutionProvider provider = RwkvExecutionProvider.Cpu)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(promptTokens);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(prefillChunkSize);
        bool cpu = provider == RwkvExecutionProvider.Cpu;
        return ForState(manifest, batchSize)
            + ForStep(manifest, batchSize, cpu)
            + ForPrefill(manifest, batchSize, Math.Min(promptTokens, prefillChunkSize), allLogits: false, cpu);
    }

    /// <summary>Adds two estimates part by part.</summary>
    public static RwkvMemoryEstimate operator +(RwkvMemoryEstimate left, RwkvMemoryEstimate right)
    {
        ArgumentNullException.ThrowIfNull(left);
        ArgumentNullException.ThrowIfNull(right);
        return new RwkvMemoryEstimate
        {
            ModelBytes = Sum(left.ModelBytes, right.ModelBytes),
            StateBytes = Sum(left.StateBytes, right.StateBytes),
            BufferBytes = Sum(left.BufferBytes, right.BufferBytes),
            ActivationBytes = Sum(left.ActivationBytes, right.ActivationBytes),
        };
    }

    /// <summary>A state of <paramref name="batchSize"/> sequences: two sets of every state tensor.</summary>
    internal static RwkvMemoryEstimate ForState(RwkvManifest manifest, int batchSize) =>
        new() { StateBytes = Bytes(2.0 * batchSize * StateFloatsPerSequence(manifest)) };

    /// <summary>A decode step of <paramref name="batchSize"/> sequences: the bound tokens and logits, and the step graph's activations.</summary>
    internal static RwkvMemoryEstimate ForStep(RwkvManifest manifest, int batchSize, bool countActivations) => new()
    {
        BufferBytes = Bytes((double)batchSize * manifest.Architecture.Vocab, 2.0 * batchSize),
        ActivationBytes = countActivations ? Bytes((double)batchSize * manifest.Activations.StepFloatsPerSequence) : 0,
    };

    /// <summary>
    /// One prefill run of <paramref name="chunkTokens"/> tokens for each of <paramref name="batchSize"/> sequences: the
    /// token and logits buffers (every position's logits with <paramref name="allLogits"/>), and the prefill graph's activations.
    /// </summary>
    internal static RwkvMemoryEstimate ForPrefill(RwkvManifest manifest, int batchSize, int chunkTokens, bool allLogits, bool countActivations)
    {
        RwkvActivationInfo sizes = manifest.Activations;
        double tokens = chunkTokens;
        double activations = tokens * sizes.PrefillFloatsPerToken;
        if (sizes.WkvChunkLength > 0)
        {
            double padded = Math.Ceiling(tokens / sizes.WkvChunkLength) * sizes.WkvChunkLength;
            activations += padded * sizes.WkvChunkFloatsPerToken;
        }
        double logitRows = allLogits ? tokens : 1;
        return new()
        {
            // The graph's head output and our copy of it.
            BufferBytes = Bytes(2.0 * batchSize * logitRows * manifest.Architecture.Vocab, 2.0 * batchSize * tokens),
            ActivationBytes = countActivations ? Bytes(batchSize * activations) : 0,
        };
    }

    /// <summary>The parts, for messages: <c>model 728.8 MiB, state 1.2 GiB, logits and tokens 64.0 MiB, activations 3.0 GiB</c>.</summary>
    internal string Describe()
    {
        var parts = new List<string>();
        if (ModelBytes > 0)
        {
            parts.Add($"model {AvailableMemory.FormatBytes(ModelBytes)}");
        }
        if (StateBytes > 0)
        {
            parts.Add($"state {AvailableMemory.FormatBytes(StateBytes)}");
        }
        if (BufferBytes > 0)
        {
            parts.Add($"logits and tokens {AvailableMemory.FormatBytes(BufferBytes)}");
        }
        if (ActivationBytes > 0)
        {
            parts.Add($"activations {AvailableMemory.FormatBytes(ActivationBytes)}");
        }
        return string.Join(", ", parts);
    }

    private static double StateFloatsPerSequence(RwkvManifest manifest) =>
        manifest.State.Sum(s => s.Shape.Aggregate(1.0, (product, d) => product * d));

    // float32 elements (and int64 elements) to bytes, saturating at long.MaxValue.
    private static long Bytes(double floats, double longs = 0)
    {
        double bytes = 4 * floats + 8 * longs;
        return bytes >= long.MaxValue ? long.MaxValue : (long)Math.Ceiling(bytes);
    }

    private static long Sum(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;
}

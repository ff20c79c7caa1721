namespace Rwkv.Onnx.Export.Architectures;

/// <summary>
/// The manifest's <see cref="RwkvActivationInfo"/>: how many floats ONNX Runtime's intermediate tensors take while an
/// exported graph runs, from the structure of the graphs and multiples that were measured, so that the runtime's
/// <see cref="RwkvMemoryEstimate"/> needs no knowledge of RWKV versions.
/// </summary>
/// <remarks>
/// Per token of a prefill chunk: a multiple of the width C for the tensors every layer makes (the token-shift mixes, the
/// projections and LoRAs, the norms; <see cref="RwkvArchitecture.PrefillTokenWidths"/>) and three times the channel
/// mix's F-wide hidden layer. For the chunked recurrence, per token of the chunk padded to the WKV chunk length L: its
/// own tensors (copies of the inputs in chunk layout, the per-chunk H·N·N matrices of versions with a matrix state, the
/// [L, L, C] pair decays of versions that build them). Per sequence of a decode step: twice the largest state tensor and
/// a multiple of the width. The multiples were fitted to the private memory of <c>rwkv-onnx bench</c> runs of the 0.1B
/// shapes (L12 D768) of RWKV-7 (chunked and scan), RWKV-6 and RWKV-4 at batch 1 to 256 and chunks of 1 to 256 tokens
/// (RWKV-5 takes RWKV-6's); over those runs and three held out, the whole estimate was within −7 % and +26 % of the
/// measured memory (BENCHMARKS.md, "Memory estimate").
/// </remarks>
internal static class ActivationSizes
{
    // The chunked recurrence, per token of the padded chunk: widths for its padded, chunked and decay-scaled copies of
    // r, w, k, v (and RWKV-7's a, b), matrices of the chunk states (H·N·N per chunk) and [L, L, C] pair decays per chunk.
    private const int ChunkTokenWidths = 30;
    private const int ChunkStateMatrices = 7;
    private const int PairDecayTensors = 5;

    // A decode step, per sequence: widths for the step's vectors, and copies of the largest state tensor.
    private const int StepWidths = 32;
    private const int StepStateCopies = 2;

    /// <summary>The sizes for <paramref name="architecture"/>'s graphs, whose prefill is chunked by <paramref name="chunkLength"/> (0: a scan).</summary>
    public static RwkvActivationInfo For(RwkvArchitecture architecture, int chunkLength)
    {
        RwkvArchitectureInfo a = architecture.Info;
        long c = a.Embedding, f = a.FfnSize;
        long largestState = architecture.StateSlots.Max(s => s.Shape.Aggregate(1L, (product, d) => product * d));
        long chunkFloats = 0;
        if (chunkLength > 0)
        {
            double chunkStates = architecture.ChunkKeepsStateMatrices ? ChunkStateMatrices * (double)a.Heads * a.HeadSize * a.HeadSize / chunkLength : 0;
            double pairDecays = architecture.ChunkKeepsPairDecays ? PairDecayTensors * (double)chunkLength * c : 0;
            chunkFloats = (long)Math.Ceiling((ChunkTokenWidths * c) + chunkStates + pairDecays);
        }
        return new RwkvActivationInfo
        {
            StepFloatsPerSequence = (StepWidths * c) + (2 * f) + (StepStateCopies * largestState) + architecture.ExtraStepFloatsPerSequence,
            PrefillFloatsPerToken = (architecture.PrefillTokenWidths * c) + (3 * f) + architecture.ExtraPrefillFloatsPerToken,
            WkvChunkLength = chunkLength,
            WkvChunkFloatsPerToken = chunkFloats,
        };
    }
}

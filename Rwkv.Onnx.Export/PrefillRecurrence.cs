namespace Rwkv.Onnx.Export;

/// <summary>How the prefill graph runs the WKV recurrence (<see cref="ExportOptions.PrefillRecurrence"/>).</summary>
public enum PrefillRecurrence
{
    /// <summary>Token by token: the step graph's recurrence body inside an ONNX Scan over the sequence.</summary>
    Scan,

    /// <summary>
    /// Chunked-parallel: within each chunk of <see cref="ExportOptions.WkvChunkLength"/> tokens the recurrence is
    /// expressed as matrix products with the intra-chunk decay terms, and a Scan carries the state across chunks.
    /// </summary>
    Chunked,
}

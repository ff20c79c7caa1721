namespace Rwkv.Onnx.Tests.Parity;

/// <summary>The recurrent state of one layer of the RWKV-5/6/7 references.</summary>
internal sealed class ReferenceLayerState
{
    public ReferenceLayerState(int embeddingSize, int headCount, int headSize)
    {
        AttShift = new float[embeddingSize];
        Wkv = new float[headCount * headSize * headSize];
        FfnShift = new float[embeddingSize];
    }

    /// <summary>The previous token's LN1 output (time-mix token shift), <c>[C]</c>.</summary>
    public float[] AttShift { get; }

    /// <summary>
    /// The WKV matrices, <c>[H, N, N]</c>: RWKV-6/7 [head][value][key], as the exporter lays out every version's;
    /// RWKV-5 [head][key][value], ChatRWKV's, so that its reference stays the published math and a comparison with
    /// an exported state transposes it.
    /// </summary>
    public float[] Wkv { get; }

    /// <summary>The previous token's LN2 output (channel-mix token shift), <c>[C]</c>.</summary>
    public float[] FfnShift { get; }
}

namespace Rwkv.Onnx.Export;

/// <summary>
/// Linear layers that an int4 export keeps at 8 bits (<see cref="ExportOptions.Int8Roles"/>), the way llama.cpp's
/// Q4_K_M keeps its value and down projections at 6 bits: the layers whose rounding error the rest of the model
/// amplifies most. The LM head has its own dtype (<see cref="ExportOptions.HeadWeightDType"/>).
/// </summary>
[Flags]
public enum QuantRoles
{
    /// <summary>Every linear layer at the export's bits.</summary>
    None = 0,

    /// <summary>All projections of the first and the last layer.</summary>
    FirstLastLayers = 1,

    /// <summary>The time-mix value projection (<c>att.value</c>) of every layer.</summary>
    AttentionValue = 2,

    /// <summary>The time-mix output projection (<c>att.output</c>) of every layer.</summary>
    AttentionOutput = 4,

    /// <summary>The channel-mix value (down) projection (<c>ffn.value</c>) of every layer.</summary>
    FfnValue = 8,

    /// <summary>The time-mix key projection (<c>att.key</c>) of every layer.</summary>
    AttentionKey = 16,

    /// <summary>The time-mix receptance projection (<c>att.receptance</c>) of every layer.</summary>
    AttentionReceptance = 32,

    /// <summary>The time-mix gate projection (<c>att.gate</c>, RWKV-5.2 and 6) of every layer.</summary>
    AttentionGate = 64,

    /// <summary>The channel-mix key (up) projection (<c>ffn.key</c>) of every layer.</summary>
    FfnKey = 128,

    /// <summary>The channel-mix receptance projection (<c>ffn.receptance</c>, RWKV-4 to 6) of every layer.</summary>
    FfnReceptance = 256,
}

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>Which of the two graphs is being built.</summary>
internal enum GraphKind
{
    /// <summary>One token per sequence: activations are <c>[batch, C]</c>.</summary>
    Step,

    /// <summary>A chunk of T tokens per sequence: activations are <c>[batch, T, C]</c>.</summary>
    Prefill,
}

namespace Rwkv.Onnx;

/// <summary>Which graph <see cref="RwkvRunner"/> uses to feed tokens.</summary>
public enum RwkvForwardMode
{
    /// <summary><see cref="Step"/> for a single token per sequence, <see cref="Prefill"/> otherwise.</summary>
    Auto,

    /// <summary>Feed tokens one at a time through the step graph, reusing bound buffers (no allocation per token).</summary>
    Step,

    /// <summary>Feed tokens through the prefill graph in chunks of <see cref="RwkvRunner.PrefillChunkSize"/> tokens.</summary>
    Prefill,
}

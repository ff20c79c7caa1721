namespace Rwkv.Onnx;

/// <summary>Where an <see cref="RwkvState"/> keeps the recurrent state between runs.</summary>
public enum RwkvStateLocation
{
    /// <summary><see cref="Device"/> on CUDA, <see cref="Host"/> on the CPU and DirectML providers.</summary>
    Auto,

    /// <summary>
    /// Managed float arrays. Every run reads the state from them and writes it back, so on a GPU provider
    /// ONNX Runtime copies the whole state to the device and back once per run.
    /// </summary>
    Host,

    /// <summary>
    /// Two sets of tensors in the provider's own memory, read and written in turn, so a decode loop never
    /// moves the state off the device; only the logits come back to the host. The state is copied to the
    /// host only when something reads or changes it there (saving, cloning, copying, resetting, loading).
    /// On the CPU provider this is ONNX Runtime-allocated memory and runs the same code path as a GPU.
    /// </summary>
    Device,
}

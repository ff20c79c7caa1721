namespace Rwkv.Onnx;

/// <summary>The ONNX Runtime execution provider a model runs on.</summary>
public enum RwkvExecutionProvider
{
    /// <summary>The CPU provider, present in every ONNX Runtime build.</summary>
    Cpu,

    /// <summary>
    /// NVIDIA CUDA. Needs the native package Microsoft.ML.OnnxRuntime.Gpu: build with
    /// <c>-p:OnnxRuntimeFlavor=Gpu</c>.
    /// </summary>
    Cuda,

    /// <summary>
    /// DirectML (Windows, any DirectX 12 GPU). Needs the native package Microsoft.ML.OnnxRuntime.DirectML:
    /// build with <c>-p:OnnxRuntimeFlavor=DirectML</c>.
    /// </summary>
    DirectML,
}

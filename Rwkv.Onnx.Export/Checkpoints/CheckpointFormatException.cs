using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>A checkpoint file is unreadable, truncated, or holds tensors that do not form a known RWKV model.</summary>
public sealed class CheckpointFormatException : RwkvException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="path">The checkpoint file, if known.</param>
    /// <param name="tensorName">The tensor at fault, if any.</param>
    /// <param name="message">A full-sentence message.</param>
    /// <param name="innerException">The cause, if any.</param>
    public CheckpointFormatException(string? path, string? tensorName, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Path = path;
        TensorName = tensorName;
    }

    /// <summary>The checkpoint file, if known.</summary>
    public string? Path { get; }

    /// <summary>The tensor at fault, if any.</summary>
    public string? TensorName { get; }
}

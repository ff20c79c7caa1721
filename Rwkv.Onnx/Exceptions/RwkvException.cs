namespace Rwkv.Onnx.Exceptions;

/// <summary>Base class of every error this library raises about models, checkpoints and state.</summary>
public class RwkvException : Exception
{
    /// <summary>Creates the exception with a full-sentence message.</summary>
    public RwkvException(string message) : base(message) { }

    /// <summary>Creates the exception with a full-sentence message and its cause.</summary>
    public RwkvException(string message, Exception? innerException) : base(message, innerException) { }
}

namespace Rwkv.Onnx.Exceptions;

/// <summary>
/// The requested execution provider is not part of the native ONNX Runtime this process loaded, or it
/// could not be initialised (for example, no usable device or driver).
/// </summary>
public sealed class ExecutionProviderUnavailableException : RwkvException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="provider">The provider that was requested.</param>
    /// <param name="availableProviders">The providers the native ONNX Runtime reports, e.g. <c>CPUExecutionProvider</c>.</param>
    /// <param name="message">A full-sentence message.</param>
    /// <param name="innerException">The cause, if any.</param>
    public ExecutionProviderUnavailableException(
        RwkvExecutionProvider provider, IReadOnlyList<string> availableProviders, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Provider = provider;
        AvailableProviders = availableProviders;
    }

    /// <summary>The provider that was requested.</summary>
    public RwkvExecutionProvider Provider { get; }

    /// <summary>The providers the native ONNX Runtime reports, by their ONNX Runtime names.</summary>
    public IReadOnlyList<string> AvailableProviders { get; }
}

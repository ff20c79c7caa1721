namespace Rwkv.Onnx.Exceptions;

/// <summary>
/// A run (a state, a decode step or a prefill of some batch size and length) would need more memory than the process
/// can still allocate, so it was refused before anything was allocated, rather than ending in the operating system's
/// out-of-memory killer. See <see cref="RwkvMemoryEstimate"/> for what the estimate counts.
/// </summary>
public sealed class MemoryLimitExceededException : RwkvException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="estimatedBytes">The estimated memory the refused run needs, in bytes.</param>
    /// <param name="availableBytes">The memory the process could still allocate, in bytes.</param>
    /// <param name="message">A full-sentence message naming the run, the estimate and the limit.</param>
    public MemoryLimitExceededException(long estimatedBytes, long availableBytes, string message) : base(message)
    {
        EstimatedBytes = estimatedBytes;
        AvailableBytes = availableBytes;
    }

    /// <summary>The estimated memory the refused run needs, in bytes.</summary>
    public long EstimatedBytes { get; }

    /// <summary>The memory the process could still allocate when the run was refused, in bytes.</summary>
    public long AvailableBytes { get; }
}

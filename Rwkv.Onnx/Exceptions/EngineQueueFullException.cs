namespace Rwkv.Onnx.Exceptions;

/// <summary>
/// An <see cref="Serving.RwkvEngine"/> refused a request because every row is busy and its queue is full
/// (<see cref="Serving.RwkvEngineOptions.MaxQueuedRequests"/>). A server answers HTTP 429 with <see cref="RetryAfter"/>.
/// </summary>
public sealed class EngineQueueFullException : RwkvException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="queueLength">The requests waiting, equal to the bound.</param>
    /// <param name="retryAfter">When a retry is likely to be admitted.</param>
    public EngineQueueFullException(int queueLength, TimeSpan retryAfter)
        : base($"The engine's queue is full: {queueLength} requests are waiting for one of the busy rows (the bound is {queueLength}); retry in about {Math.Ceiling(retryAfter.TotalSeconds)} s.")
    {
        QueueLength = queueLength;
        RetryAfter = retryAfter;
    }

    /// <summary>The requests waiting when this one was refused.</summary>
    public int QueueLength { get; }

    /// <summary>
    /// An estimate of when a retry will be admitted: the queue ahead, divided among the rows, times the mean duration of
    /// recent requests; at least one second.
    /// </summary>
    public TimeSpan RetryAfter { get; }
}

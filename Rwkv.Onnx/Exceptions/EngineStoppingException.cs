namespace Rwkv.Onnx.Exceptions;

/// <summary>An <see cref="Serving.RwkvEngine"/> refused a request because it is draining (<see cref="Serving.RwkvEngine.DrainAsync"/>) for shutdown.</summary>
public sealed class EngineStoppingException : RwkvException
{
    /// <summary>Creates the exception.</summary>
    public EngineStoppingException()
        : base("The engine is shutting down: it finishes the requests it has and admits no new ones.")
    {
    }
}

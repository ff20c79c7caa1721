namespace Rwkv.Onnx.Exceptions;

/// <summary>A state (or saved state file) does not fit the model or batch it is used with.</summary>
public sealed class StateMismatchException : RwkvException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="expected">What the model needs, e.g. a shape.</param>
    /// <param name="actual">What was given.</param>
    /// <param name="message">A full-sentence message.</param>
    public StateMismatchException(string expected, string actual, string message) : base(message)
    {
        Expected = expected;
        Actual = actual;
    }

    /// <summary>What the model needs.</summary>
    public string Expected { get; }

    /// <summary>What was given.</summary>
    public string Actual { get; }
}

namespace Rwkv.Onnx.Exceptions;

/// <summary>A request named a start state that was not registered with <see cref="Serving.RwkvEngine.RegisterState"/>.</summary>
public sealed class UnknownStateException : RwkvException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="stateName">The name asked for.</param>
    /// <param name="knownNames">The registered names.</param>
    public UnknownStateException(string stateName, IEnumerable<string> knownNames)
        : base($"No state named '{stateName}' is registered; registered states: {Describe(knownNames)}.")
    {
        StateName = stateName;
    }

    /// <summary>The name that was asked for.</summary>
    public string StateName { get; }

    private static string Describe(IEnumerable<string> names)
    {
        string[] quoted = [.. names.Order(StringComparer.Ordinal).Select(n => $"'{n}'")];
        return quoted.Length == 0 ? "none" : string.Join(", ", quoted);
    }
}

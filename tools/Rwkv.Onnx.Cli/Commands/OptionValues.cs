using System.CommandLine.Parsing;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>Reading an option's value inside its validator or parser.</summary>
internal static class OptionValues
{
    /// <summary>
    /// The option's value, or false when its token did not convert to <typeparamref name="T"/>. System.CommandLine runs
    /// validators even then, and <c>GetValueOrDefault</c> throws; the parser reports the bad token itself as a usage error.
    /// </summary>
    public static bool TryGet<T>(OptionResult result, out T value)
    {
        try
        {
            value = result.GetValueOrDefault<T>()!;
            return true;
        }
        catch (InvalidOperationException)
        {
            value = default!;
            return false;
        }
    }
}

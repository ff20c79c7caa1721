namespace Rwkv.Onnx.Cli;

/// <summary>Process exit codes of <c>rwkv-onnx</c>.</summary>
internal static class ExitCodes
{
    /// <summary>The command succeeded.</summary>
    public const int Success = 0;

    /// <summary>A known failure: missing file, invalid checkpoint or model, I/O error.</summary>
    public const int Failure = 1;

    /// <summary>The command line is wrong: unknown option, bad value, out-of-range argument.</summary>
    public const int Usage = 2;

    /// <summary>An unexpected internal error (BSD <c>EX_SOFTWARE</c>); the full exception is printed.</summary>
    public const int InternalError = 70;
}

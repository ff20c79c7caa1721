namespace Rwkv.Onnx.Cli;

/// <summary>An argument value is wrong in a way only found after parsing (e.g. a token id outside the model's vocabulary).</summary>
/// <param name="message">A full sentence that names the argument.</param>
internal sealed class UsageException(string message) : Exception(message);

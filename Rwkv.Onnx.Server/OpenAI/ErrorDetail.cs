namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>What went wrong: a sentence, OpenAI's error type, the request field at fault (or null) and a machine-readable code.</summary>
internal sealed record ErrorDetail(string Message, string Type, string? Param, string? Code);

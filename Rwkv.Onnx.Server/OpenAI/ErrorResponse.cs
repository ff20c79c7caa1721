namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>OpenAI's error body, <c>{"error":{"message","type","param","code"}}</c>.</summary>
internal sealed record ErrorResponse(ErrorDetail Error);

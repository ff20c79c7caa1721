using Rwkv.Onnx.Server.OpenAI;

namespace Rwkv.Onnx.Server.Errors;

/// <summary>
/// A request the server refuses, as the HTTP status and OpenAI error body the client gets. Thrown anywhere below an
/// endpoint; <see cref="Hosting.ErrorMiddleware"/> writes it.
/// </summary>
internal sealed class ApiException(int statusCode, string message, string type, string? param, string? code) : Exception(message)
{
    public int StatusCode { get; } = statusCode;

    public string Type { get; } = type;

    /// <summary>The request field at fault in OpenAI's wire name (<c>max_tokens</c>, <c>messages[1].role</c>), or null.</summary>
    public string? Param { get; } = param;

    public string? Code { get; } = code;

    /// <summary>When set, the response carries a <c>Retry-After</c> header of this many whole seconds (at least 1).</summary>
    public TimeSpan? RetryAfter { get; init; }

    public ErrorResponse ToResponse() => new(new ErrorDetail(Message, Type, Param, Code));
}

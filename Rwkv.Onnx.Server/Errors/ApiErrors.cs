using Microsoft.AspNetCore.Http;

namespace Rwkv.Onnx.Server.Errors;

/// <summary>The server's refusals, one factory per kind, with OpenAI's error types and codes where OpenAI has one.</summary>
internal static class ApiErrors
{
    private const string InvalidRequestType = "invalid_request_error";

    /// <summary>400: a field has a wrong value; the message names it and says what is expected.</summary>
    public static ApiException InvalidValue(string param, string message) =>
        new(StatusCodes.Status400BadRequest, message, InvalidRequestType, param, "invalid_value");

    /// <summary>400: a required field is missing.</summary>
    public static ApiException MissingField(string param, string what) =>
        new(StatusCodes.Status400BadRequest, $"'{param}' is required: {what}.", InvalidRequestType, param, "missing_required_parameter");

    /// <summary>400: a field we know but do not implement was given a value other than its default.</summary>
    public static ApiException Unsupported(string param, string message) =>
        new(StatusCodes.Status400BadRequest, message, InvalidRequestType, param, "unsupported_value");

    /// <summary>400: the body is not JSON of the expected shape; <paramref name="param"/> is the field where reading failed, if any.</summary>
    public static ApiException InvalidJson(string? param, string detail) =>
        new(StatusCodes.Status400BadRequest, $"The request body is not valid JSON for this endpoint: {detail}", InvalidRequestType, param, "invalid_json");

    /// <summary>400: the prompt is longer than the server allows.</summary>
    public static ApiException PromptTooLong(string param, int tokens, int limit) =>
        new(StatusCodes.Status400BadRequest,
            $"'{param}' is {tokens} tokens; this server accepts at most {limit} prompt tokens (serve --max-prompt-tokens).",
            InvalidRequestType, param, "context_length_exceeded");

    /// <summary>401: no or a wrong API key.</summary>
    public static ApiException InvalidApiKey(bool missing) =>
        new(StatusCodes.Status401Unauthorized,
            missing
                ? "This server requires an API key: send the header 'Authorization: Bearer <key>'."
                : "Incorrect API key provided in the 'Authorization: Bearer' header.",
            InvalidRequestType, null, "invalid_api_key");

    /// <summary>404: the request names a model this server does not serve.</summary>
    public static ApiException ModelNotFound(string model, string served) =>
        new(StatusCodes.Status404NotFound, $"The model '{model}' does not exist; this server serves '{served}' (GET /v1/models).",
            InvalidRequestType, "model", "model_not_found");

    /// <summary>404: no endpoint at this path and method.</summary>
    public static ApiException UnknownPath(string method, string path) =>
        new(StatusCodes.Status404NotFound,
            $"Unknown request: {method} {path}. Endpoints: GET /v1/models, POST /v1/completions, POST /v1/chat/completions, GET /health, GET /metrics.",
            InvalidRequestType, null, "unknown_url");

    /// <summary>408: the request ran past the server's time limit before its response started.</summary>
    public static ApiException Timeout(TimeSpan limit, int generated) =>
        new(StatusCodes.Status408RequestTimeout,
            $"The request exceeded the server's time limit of {limit.TotalSeconds:0.###} s (serve --request-timeout) after {generated} generated tokens; ask for fewer tokens or stream.",
            "timeout_error", null, "request_timeout");

    /// <summary>413: the body is larger than the server accepts.</summary>
    public static ApiException BodyTooLarge(long? limit) =>
        new(StatusCodes.Status413PayloadTooLarge,
            $"The request body is larger than this server accepts ({limit?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "the limit"} bytes, serve --max-body-bytes).",
            InvalidRequestType, null, "request_too_large");

    /// <summary>429: every sequence slot and queue place is taken.</summary>
    public static ApiException QueueFull(int active, int queued, TimeSpan retryAfter) =>
        new(StatusCodes.Status429TooManyRequests,
            $"The server is at capacity ({active} sequences running, {queued} queued; serve --max-sequences and --max-queue); retry after {Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds))} s.",
            "rate_limit_error", null, "queue_full")
        { RetryAfter = retryAfter };

    /// <summary>503: the server is draining for shutdown and admits nothing new.</summary>
    public static ApiException ShuttingDown() =>
        new(StatusCodes.Status503ServiceUnavailable, "The server is shutting down and accepts no new requests.", "server_error", null, "server_shutting_down");

    /// <summary>500: a failure the server did not expect; the details go to the server's log, not to the client.</summary>
    public static ApiException Internal() =>
        new(StatusCodes.Status500InternalServerError, "The server had an internal error while processing the request; see the server's log.", "server_error", null, null);
}

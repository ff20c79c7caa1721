using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Rwkv.Onnx.Server.Errors;

namespace Rwkv.Onnx.Server.Requests;

/// <summary>Reads a request body as JSON; a body that is not JSON of the expected shape is a 400 naming the field where reading stopped.</summary>
internal static class RequestBody
{
    /// <exception cref="ApiException">400 <c>invalid_json</c>; 413 when the body exceeds Kestrel's limit.</exception>
    public static async Task<T> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> typeInfo) where T : class
    {
        try
        {
            return await JsonSerializer.DeserializeAsync(context.Request.Body, typeInfo, context.RequestAborted).ConfigureAwait(false)
                ?? throw ApiErrors.InvalidJson(null, "the body is 'null'; expected a JSON object.");
        }
        catch (JsonException e)
        {
            throw ApiErrors.InvalidJson(Param(e.Path), Detail(e));
        }
    }

    // "$.messages[1].content" -> "messages[1].content"; the root itself has no field name.
    private static string? Param(string? path) =>
        path is null || path == "$" ? null : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path;

    // System.Text.Json's sentence ends with " Path: $.x | LineNumber: 0 | BytePositionInLine: 5."; keep the sentence and
    // say the field and position our way. A converter's own message has no such tail.
    private static string Detail(JsonException e)
    {
        string message = e.Message;
        int tail = message.IndexOf(" Path: ", StringComparison.Ordinal);
        if (tail >= 0)
        {
            message = message[..tail];
        }
        string? field = Param(e.Path);
        if (message.StartsWith("The JSON value could not be converted", StringComparison.Ordinal))
        {
            // The serializer names our .NET type here, which tells a client nothing; the field and position do.
            message = field is null ? "the body is not a JSON object" : "the value has the wrong type (see the OpenAI API reference)";
        }
        string where = field is null ? "" : $" (field '{field}')";
        string position = e.LineNumber is long line ? $" at line {line + 1}, byte {e.BytePositionInLine + 1}" : "";
        return $"{message.TrimEnd()}{where}{position}.".Replace("..", ".", StringComparison.Ordinal);
    }
}

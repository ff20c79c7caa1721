using System.Text.Encodings.Web;
using System.Text.Json;

namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>
/// The one <see cref="OpenAIJsonContext"/> the server uses: the generated context with an encoder that writes text as
/// UTF-8 (<c>'</c>, <c>&lt;</c>, non-Latin letters) rather than <c>\u0027</c> escapes. These responses are JSON for API
/// clients, never embedded in HTML, so the HTML-safe default buys nothing and makes errors unreadable in a terminal.
/// </summary>
internal static class OpenAIJson
{
    public static OpenAIJsonContext Context { get; } = new(new JsonSerializerOptions(OpenAIJsonContext.Default.Options)
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}

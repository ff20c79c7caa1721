using System.Text.Json.Serialization;

namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>One message of a chat request: <c>role</c> system, developer, user or assistant, and its text.</summary>
internal sealed class ChatMessage
{
    public string? Role { get; init; }

    /// <summary>A string, or OpenAI's list of content parts of which only <c>{"type":"text"}</c> parts are accepted (joined).</summary>
    [JsonConverter(typeof(MessageContentConverter))]
    public string? Content { get; init; }

    public string? Name { get; init; }
}

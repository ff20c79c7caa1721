using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>
/// A chat message's <c>content</c>: a string, or a list of content parts. Text parts are joined in order; any other part
/// (an image, audio, a file) is refused, naming its type, since the model reads text only.
/// </summary>
internal sealed class MessageContentConverter : JsonConverter<string>
{
    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return reader.GetString();
        }
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new JsonException($"Expected a string or an array of content parts; got {StringListConverter.Describe(reader.TokenType)}.");
        }
        var text = new StringBuilder();
        int index = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            using JsonDocument part = JsonDocument.ParseValue(ref reader);
            if (part.RootElement.ValueKind != JsonValueKind.Object
                || !part.RootElement.TryGetProperty("type", out JsonElement type) || type.ValueKind != JsonValueKind.String)
            {
                throw new JsonException($"Content part {index} must be an object with a string 'type'.");
            }
            if (type.GetString() != "text")
            {
                throw new JsonException($"Content part {index} has type '{type.GetString()}'; only 'text' parts are supported.");
            }
            if (!part.RootElement.TryGetProperty("text", out JsonElement partText) || partText.ValueKind != JsonValueKind.String)
            {
                throw new JsonException($"Content part {index} of type 'text' must have a string 'text'.");
            }
            text.Append(partText.GetString());
            index++;
        }
        return text.ToString();
    }

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);
}

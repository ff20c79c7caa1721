using System.Text.Json.Serialization;

namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>What a streamed chunk adds to the assistant's message; absent fields are left out, as OpenAI does.</summary>
internal sealed record ChatDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content);

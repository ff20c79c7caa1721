using System.Text.Json.Serialization;

namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>
/// Source-generated JSON for OpenAI's wire format: snake_case names, nulls written (clients expect <c>"logprobs": null</c>),
/// numbers only as numbers (a quoted <c>"max_tokens": "5"</c> is an error naming the field, as in OpenAI's API).
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, ReadCommentHandling = System.Text.Json.JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(CompletionRequest))]
[JsonSerializable(typeof(ChatCompletionRequest))]
[JsonSerializable(typeof(CompletionResponse))]
[JsonSerializable(typeof(ChatCompletionResponse))]
[JsonSerializable(typeof(ChatCompletionChunk))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(ErrorResponse))]
internal sealed partial class OpenAIJsonContext : JsonSerializerContext;

using System.Text.Json.Serialization;

namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>The body of <c>POST /v1/completions</c>.</summary>
internal sealed class CompletionRequest : GenerationRequest
{
    /// <summary>A string, or a list of one string (OpenAI's batch of prompts needs <c>n</c> choices, which we refuse).</summary>
    [JsonConverter(typeof(StringListConverter))]
    public IReadOnlyList<string>? Prompt { get; init; }

    public int? Logprobs { get; init; }

    public bool? Echo { get; init; }

    public string? Suffix { get; init; }

    public int? BestOf { get; init; }
}

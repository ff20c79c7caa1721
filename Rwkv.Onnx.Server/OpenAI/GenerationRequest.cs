using System.Text.Json.Serialization;

namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>
/// The fields <c>/v1/completions</c> and <c>/v1/chat/completions</c> share, as OpenAI's wire format names them. Every
/// field is optional on the wire; <see cref="Requests.GenerationRequestReader"/> checks them and names the bad one.
/// Fields we do not know are ignored, as OpenAI-compatible servers do, so newer clients keep working.
/// </summary>
internal abstract class GenerationRequest
{
    public string? Model { get; init; }

    public int? MaxTokens { get; init; }

    public float? Temperature { get; init; }

    public float? TopP { get; init; }

    /// <summary>Not in OpenAI's API: sample only among the k most likely tokens (0 = no limit), as llama-server and Ai00 accept.</summary>
    public int? TopK { get; init; }

    public float? PresencePenalty { get; init; }

    public float? FrequencyPenalty { get; init; }

    public long? Seed { get; init; }

    public int? N { get; init; }

    public bool? Stream { get; init; }

    public StreamOptions? StreamOptions { get; init; }

    [JsonConverter(typeof(StringListConverter))]
    public IReadOnlyList<string>? Stop { get; init; }

    /// <summary>OpenAI's end-user id; accepted and ignored.</summary>
    public string? User { get; init; }

    /// <summary>Not in OpenAI's API: the name of a start state registered with <c>serve --state name=path</c>.</summary>
    public string? State { get; init; }
}

namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>
/// A <c>text_completion</c> object: the whole response of <c>/v1/completions</c>, or one streamed chunk of it (a chunk has
/// a choice with the new text and a null <c>usage</c>, or no choice and the usage when <c>include_usage</c> asked for it).
/// </summary>
internal sealed record CompletionResponse(string Id, long Created, string Model, IReadOnlyList<CompletionChoice> Choices, Usage? Usage)
{
    public string Object => "text_completion";

    public string? SystemFingerprint => null;
}

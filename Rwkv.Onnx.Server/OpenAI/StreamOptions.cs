namespace Rwkv.Onnx.Server.OpenAI;

/// <summary><c>stream_options</c>: with <c>include_usage</c>, a last chunk before <c>[DONE]</c> carries the usage and no choices.</summary>
internal sealed class StreamOptions
{
    public bool? IncludeUsage { get; init; }
}

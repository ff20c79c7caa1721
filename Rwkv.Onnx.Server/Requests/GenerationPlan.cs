using Rwkv.Onnx.Generation;

namespace Rwkv.Onnx.Server.Requests;

/// <summary>A checked request's generation settings, as the engine takes them, and how the response is sent.</summary>
/// <param name="Options">Token limit, sampler, stop tokens and strings.</param>
/// <param name="Stream">Server-sent events instead of one JSON response.</param>
/// <param name="IncludeUsage">With <paramref name="Stream"/>: a last chunk carries the usage (<c>stream_options.include_usage</c>).</param>
/// <param name="StateName">A start state registered with <c>serve --state</c>, or null for the model's initial state.</param>
internal sealed record GenerationPlan(GenerationOptions Options, bool Stream, bool IncludeUsage, string? StateName);

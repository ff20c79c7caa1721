using Rwkv.Onnx.Generation;

namespace Rwkv.Onnx.Serving;

/// <summary>
/// One request to an <see cref="RwkvEngine"/>: the prompt as token ids (the caller tokenizes), how to generate, and an
/// optional named start state. Validated by <see cref="RwkvEngine.Submit"/>.
/// </summary>
public sealed record EngineRequest
{
    /// <summary>The prompt's token ids, at least one, each in <c>[0, VocabSize)</c>.</summary>
    public required IReadOnlyList<int> PromptTokens { get; init; }

    /// <summary>Budget (<see cref="GenerationOptions.MaxTokens"/>), sampling (with its seed) and stops; the request creates its own sampler from it.</summary>
    public GenerationOptions Options { get; init; } = new();

    /// <summary>A state registered with <see cref="RwkvEngine.RegisterState"/> to start from; null starts from the model's initial state.</summary>
    public string? InitialStateName { get; init; }

    /// <summary>
    /// Prompt lengths, in tokens, whose state is worth keeping in the prefix cache besides the prompt's end (which is always
    /// kept), e.g. the turn boundaries of a chat transcript (<see cref="ChatPrompt.CachePoints"/>). Each in <c>[1, PromptTokens.Count]</c>.
    /// </summary>
    public IReadOnlyList<int> CachePoints { get; init; } = [];
}

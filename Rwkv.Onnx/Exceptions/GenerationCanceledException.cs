namespace Rwkv.Onnx.Exceptions;

/// <summary>
/// A generation was cancelled between tokens. Every token in <see cref="GeneratedTokens"/> was sampled and also fed to
/// the generation's state, so a caller that continues a state (a conversation) knows exactly what that state now
/// covers: the prompt and these tokens.
/// </summary>
public sealed class GenerationCanceledException : OperationCanceledException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="generatedTokens">The tokens generated, and fed to the state, before cancellation took effect.</param>
    /// <param name="text">The text already passed to the caller's callback (not text held back as a split character or a possible stop string).</param>
    /// <param name="cancellationToken">The token whose cancellation stopped the generation.</param>
    public GenerationCanceledException(IReadOnlyList<int> generatedTokens, string text, CancellationToken cancellationToken)
        : base($"The generation was cancelled after {generatedTokens?.Count ?? 0} generated tokens.", cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(generatedTokens);
        ArgumentNullException.ThrowIfNull(text);
        GeneratedTokens = generatedTokens;
        Text = text;
    }

    /// <summary>The tokens generated before cancellation; the state was stepped with each of them.</summary>
    public IReadOnlyList<int> GeneratedTokens { get; }

    /// <summary>The text already passed to the caller's callback.</summary>
    public string Text { get; }
}

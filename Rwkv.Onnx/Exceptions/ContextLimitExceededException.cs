namespace Rwkv.Onnx.Exceptions;

/// <summary>
/// A run would take a sequence past the token capacity of its state (<see cref="RwkvManifest.ContextLimit"/>, fixed at
/// export), so it was refused before it ran; the state is unchanged. Export the model with a larger capacity, or start
/// the sequence over from a reset state.
/// </summary>
public sealed class ContextLimitExceededException : RwkvException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="maxTokens">The capacity of the state, in tokens.</param>
    /// <param name="heldTokens">The tokens the sequence's state already holds.</param>
    /// <param name="requestedTokens">The tokens the refused run would have added.</param>
    /// <param name="message">A full-sentence message naming the model, the sequence and the numbers.</param>
    public ContextLimitExceededException(int maxTokens, long heldTokens, long requestedTokens, string message) : base(message)
    {
        MaxTokens = maxTokens;
        HeldTokens = heldTokens;
        RequestedTokens = requestedTokens;
    }

    /// <summary>The capacity of the state, in tokens.</summary>
    public int MaxTokens { get; }

    /// <summary>The tokens the sequence's state already held.</summary>
    public long HeldTokens { get; }

    /// <summary>The tokens the refused run would have added.</summary>
    public long RequestedTokens { get; }
}

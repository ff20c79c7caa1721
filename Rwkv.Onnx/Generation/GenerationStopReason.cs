namespace Rwkv.Onnx.Generation;

/// <summary>Why a generation ended.</summary>
public enum GenerationStopReason
{
    /// <summary><see cref="GenerationOptions.MaxTokens"/> tokens were generated.</summary>
    MaxTokens,

    /// <summary>A stop token (or the end-of-text token) was sampled.</summary>
    StopToken,

    /// <summary>The generated text reached a stop string.</summary>
    StopString,

    /// <summary>The sequence was taken out of its batch by <see cref="BatchGenerator.Remove"/>.</summary>
    Removed,

    /// <summary>The request was cancelled (its caller's token, or the engine shut down) before it ended otherwise; see <see cref="Serving.RwkvEngine.Submit"/>.</summary>
    Canceled,
}

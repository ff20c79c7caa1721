namespace Rwkv.Onnx.Generation;

/// <summary>Who wrote a <see cref="ChatPromptMessage"/>.</summary>
public enum ChatPromptRole
{
    /// <summary>Instructions before the conversation.</summary>
    System,

    /// <summary>The person talking to the model.</summary>
    User,

    /// <summary>The model's earlier replies.</summary>
    Assistant,
}

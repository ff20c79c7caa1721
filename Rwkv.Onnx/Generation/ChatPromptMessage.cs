namespace Rwkv.Onnx.Generation;

/// <summary>One message of a conversation, for <see cref="ChatPrompt.Create"/>.</summary>
/// <param name="Role">Who wrote it.</param>
/// <param name="Text">What was written.</param>
public readonly record struct ChatPromptMessage(ChatPromptRole Role, string Text);

namespace Rwkv.Onnx;

/// <summary>
/// A chat template as the manifest records it: the text fed for a conversation is <see cref="Preamble"/> once, then per
/// turn <c>{UserPrefix}{message}{TurnSeparator}{AssistantPrefix}</c>; the reply is generated after it and ends where
/// the generated text contains one of <see cref="StopStrings"/>. The fields of <see cref="Generation.ChatTemplate"/>.
/// </summary>
public sealed record RwkvChatTemplateInfo
{
    /// <summary>A short name: <c>world</c> (User:/Assistant:) or <c>alpaca</c> (RWKV-4 Raven's instructions).</summary>
    public required string Name { get; init; }

    /// <summary>Text fed once before the first turn; null for none.</summary>
    public string? Preamble { get; init; }

    /// <summary>Text before each user message.</summary>
    public required string UserPrefix { get; init; }

    /// <summary>Text after the separator that follows the user message; the reply continues it.</summary>
    public required string AssistantPrefix { get; init; }

    /// <summary>Separates the user message from the assistant prefix, and a reply that ended without a stop string from the next turn.</summary>
    public required string TurnSeparator { get; init; }

    /// <summary>Texts that end a reply; the stop text is fed to the model but not shown.</summary>
    public required IReadOnlyList<string> StopStrings { get; init; }
}

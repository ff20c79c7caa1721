using System.Text.RegularExpressions;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Generation;

/// <summary>
/// How a <see cref="ChatSession"/> turns a user message into model text: <c>{UserPrefix}{message}{TurnSeparator}{AssistantPrefix}</c>,
/// the reply ending at one of <see cref="StopStrings"/>. <see cref="World"/> is the <c>User:</c>/<c>Assistant:</c>
/// format of the RWKV World models, <see cref="Alpaca"/> the instruction format of RWKV-4 Raven.
/// </summary>
public sealed partial record ChatTemplate
{
    /// <summary>RWKV World chat: <c>User: {message}\n\nAssistant:</c>, the reply ending at a blank line.</summary>
    public static ChatTemplate World { get; } = new()
    {
        Name = "world",
        UserPrefix = "User: ",
        AssistantPrefix = "Assistant:",
        TurnSeparator = "\n\n",
        StopStrings = ["\n\n"],
    };

    /// <summary>
    /// Alpaca-style instructions for RWKV-4 Raven: a preamble once, then <c># Instruction:\n{message}\n\n# Response:\n</c>,
    /// the reply ending where the model starts another <c>#</c> section.
    /// </summary>
    public static ChatTemplate Alpaca { get; } = new()
    {
        Name = "alpaca",
        Preamble = "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n",
        UserPrefix = "# Instruction:\n",
        AssistantPrefix = "# Response:\n",
        TurnSeparator = "\n\n",
        StopStrings = ["\n\n#", "\n\n\n"],
    };

    /// <summary>A short name, e.g. <c>world</c>.</summary>
    public required string Name { get; init; }

    /// <summary>Text fed once, before the first turn; null for none.</summary>
    public string? Preamble { get; init; }

    /// <summary>Text before each user message.</summary>
    public required string UserPrefix { get; init; }

    /// <summary>Text after the separator that follows the user message; the reply continues it.</summary>
    public required string AssistantPrefix { get; init; }

    /// <summary>Separates turns; fed after a reply that did not end with a stop string.</summary>
    public required string TurnSeparator { get; init; }

    /// <summary>Where a reply ends; the stop text is fed to the model but not shown.</summary>
    public required IReadOnlyList<string> StopStrings { get; init; }

    /// <summary>The template for a tokenizer kind: <see cref="Alpaca"/> for <c>neox</c> (Raven), <see cref="World"/> otherwise.</summary>
    /// <param name="tokenizerKind">The manifest's tokenizer kind.</param>
    public static ChatTemplate ForTokenizerKind(string tokenizerKind) =>
        tokenizerKind == GptNeoXTokenizer.Kind ? Alpaca : World;

    /// <summary>
    /// The template a model's manifest records (<see cref="RwkvGenerationInfo.ChatTemplate"/>); for a manifest written
    /// before it was recorded, <see cref="ForTokenizerKind"/> of its tokenizer, which is what the exporter records.
    /// </summary>
    /// <param name="manifest">The model's manifest.</param>
    /// <exception cref="ArgumentNullException"><paramref name="manifest"/> is null.</exception>
    public static ChatTemplate ForManifest(RwkvManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.Generation?.ChatTemplate is not { } t)
        {
            return ForTokenizerKind(manifest.Tokenizer.Kind);
        }
        return new ChatTemplate
        {
            Name = t.Name,
            Preamble = t.Preamble,
            UserPrefix = t.UserPrefix,
            AssistantPrefix = t.AssistantPrefix,
            TurnSeparator = t.TurnSeparator,
            StopStrings = [.. t.StopStrings],
        };
    }

    /// <summary>The manifest form of this template.</summary>
    public RwkvChatTemplateInfo ToInfo() => new()
    {
        Name = Name,
        Preamble = Preamble,
        UserPrefix = UserPrefix,
        AssistantPrefix = AssistantPrefix,
        TurnSeparator = TurnSeparator,
        StopStrings = [.. StopStrings],
    };

    /// <summary>
    /// The text of one user turn. As ChatRWKV does, line breaks are normalised to <c>\n</c> and blank lines inside
    /// the message are removed, so the message cannot end the turn early; surrounding white space is trimmed.
    /// </summary>
    /// <param name="message">The user's message.</param>
    /// <exception cref="ArgumentNullException"><paramref name="message"/> is null.</exception>
    public string FormatTurn(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return UserPrefix + Clean(message) + TurnSeparator + AssistantPrefix;
    }

    /// <summary>A message as a turn holds it: CRLF as LF, trimmed, runs of blank lines collapsed (a blank line would end the turn).</summary>
    internal static string Clean(string message) =>
        BlankLines().Replace(message.Replace("\r\n", "\n", StringComparison.Ordinal).Trim(), "\n");

    [GeneratedRegex(@"\n(\s*\n)+")]
    private static partial Regex BlankLines();
}

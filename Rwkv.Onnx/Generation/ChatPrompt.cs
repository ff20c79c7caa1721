using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Generation;

/// <summary>
/// A conversation formatted with a <see cref="ChatTemplate"/> as prompt token ids ending with the template's assistant
/// prefix, and the prompt lengths at the message boundaries (<see cref="CachePoints"/>), so that the next request of the
/// same conversation, which re-sends this history, finds it in an engine's prefix cache. Used by the
/// <c>IChatClient</c> and the server's chat endpoint alike, so both produce the same tokens.
/// </summary>
/// <remarks>
/// Each message is encoded on its own (as <see cref="ChatSession"/> encodes each turn), so a conversation's tokens only grow
/// at the end as it goes on. Messages are cleaned as <see cref="ChatTemplate.FormatTurn"/> does (CRLF to LF, trimmed, blank
/// lines collapsed) and become:
/// <list type="bullet">
/// <item>system: <c>System: text</c> + separator, RWKV World's convention, for a template without a preamble; for a template
/// with one (Alpaca) the text + separator takes the preamble's place (the preamble is used when no message is a system message);</item>
/// <item>user: <see cref="ChatTemplate.FormatTurn"/> (user prefix, text, separator, assistant prefix) when an assistant message or
/// the prompt's end follows; otherwise user prefix, text, separator;</item>
/// <item>assistant: the text + separator after the assistant prefix, with one space between them when the prefix does not end in
/// white space (the model writes <c>Assistant: Hi</c>); an assistant message not after a user message brings its own prefix.</item>
/// </list>
/// </remarks>
public sealed class ChatPrompt
{
    private ChatPrompt(int[] tokens, int[] cachePoints)
    {
        Tokens = tokens;
        CachePoints = cachePoints;
    }

    /// <summary>The prompt's token ids; they end with the template's assistant prefix.</summary>
    public IReadOnlyList<int> Tokens { get; }

    /// <summary>The prompt lengths at the end of each message but the last, ascending (the prompt's end is <see cref="Tokens"/>.Count).</summary>
    public IReadOnlyList<int> CachePoints { get; }

    /// <summary>Formats <paramref name="messages"/> with <paramref name="template"/> and encodes them with <paramref name="tokenizer"/>.</summary>
    /// <param name="template">The chat format, e.g. <see cref="ChatTemplate.ForManifest"/> of the model.</param>
    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <param name="messages">The conversation, oldest first; the last one is the user's.</param>
    /// <returns>The prompt.</returns>
    /// <exception cref="ArgumentNullException">An argument or a message's text is null.</exception>
    /// <exception cref="ArgumentException">There are no messages, the last is not a user message, or a role is undefined.</exception>
    public static ChatPrompt Create(ChatTemplate template, ByteLevelTokenizer tokenizer, IEnumerable<ChatPromptMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(messages);
        ChatPromptMessage[] list = [.. messages];
        if (list.Length == 0)
        {
            throw new ArgumentException("A chat prompt needs at least one message.", nameof(messages));
        }
        if (list[^1].Role != ChatPromptRole.User)
        {
            throw new ArgumentException($"The last message must be the user's, for the assistant to answer; it is a {list[^1].Role} message.", nameof(messages));
        }
        var tokens = new List<int>();
        var boundaries = new List<int>();
        void Add(string text)
        {
            tokens.AddRange(tokenizer.EncodeToIds(text));
            boundaries.Add(tokens.Count);
        }

        if (template.Preamble is { Length: > 0 } preamble && !list.Any(m => m.Role == ChatPromptRole.System))
        {
            Add(preamble);
        }
        for (int i = 0; i < list.Length; i++)
        {
            ChatPromptMessage message = list[i];
            ArgumentNullException.ThrowIfNull(message.Text, $"{nameof(messages)}[{i}].{nameof(ChatPromptMessage.Text)}");
            string text = ChatTemplate.Clean(message.Text);
            bool afterUser = i > 0 && list[i - 1].Role == ChatPromptRole.User;
            bool beforeReply = i == list.Length - 1 || list[i + 1].Role == ChatPromptRole.Assistant;
            Add(message.Role switch
            {
                ChatPromptRole.System when template.Preamble is { Length: > 0 } => text + template.TurnSeparator,
                ChatPromptRole.System => "System: " + text + template.TurnSeparator,
                ChatPromptRole.User when beforeReply => template.FormatTurn(text),
                ChatPromptRole.User => template.UserPrefix + text + template.TurnSeparator,
                ChatPromptRole.Assistant => (afterUser ? "" : template.AssistantPrefix) + AssistantLead(template) + text + template.TurnSeparator,
                _ => throw new ArgumentException($"Message {i} has the undefined role {(int)message.Role}.", nameof(messages)),
            });
        }
        boundaries.RemoveAt(boundaries.Count - 1);
        return new ChatPrompt([.. tokens], [.. boundaries.Where(b => b > 0).Distinct()]);
    }

    private static string AssistantLead(ChatTemplate template) =>
        template.AssistantPrefix.Length > 0 && !char.IsWhiteSpace(template.AssistantPrefix[^1]) ? " " : "";
}

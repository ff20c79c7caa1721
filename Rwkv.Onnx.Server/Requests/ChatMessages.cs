using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Server.Errors;
using Rwkv.Onnx.Server.OpenAI;

namespace Rwkv.Onnx.Server.Requests;

/// <summary>
/// Checks a chat request's <c>messages</c> and formats them with the runtime's <see cref="ChatPrompt"/> and the model's
/// chat template. OpenAI's <c>developer</c> role is its newer name for <c>system</c>; tool and function messages are
/// refused, since the model has no tool calling.
/// </summary>
internal static class ChatMessages
{
    public static FormattedChat Format(IReadOnlyList<ChatMessage>? messages, ServedModel served)
    {
        if (messages is null)
        {
            throw ApiErrors.MissingField("messages", "the conversation, a list of {\"role\", \"content\"} messages ending with the user's");
        }
        if (messages.Count == 0)
        {
            throw ApiErrors.InvalidValue("messages", "'messages' is empty; give at least one user message.");
        }
        var prompt = new ChatPromptMessage[messages.Count];
        for (int i = 0; i < messages.Count; i++)
        {
            ChatMessage message = messages[i] ?? throw ApiErrors.InvalidValue($"messages[{i}]", $"'messages[{i}]' is null; expected a message object.");
            ChatPromptRole role = message.Role switch
            {
                "system" or "developer" => ChatPromptRole.System,
                "user" => ChatPromptRole.User,
                "assistant" => ChatPromptRole.Assistant,
                null => throw ApiErrors.MissingField($"messages[{i}].role", "one of system, developer, user, assistant"),
                string other => throw ApiErrors.InvalidValue($"messages[{i}].role",
                    $"'messages[{i}].role' is '{other}'; expected system, developer, user or assistant (this model has no tool calling)."),
            };
            string text = message.Content ?? throw ApiErrors.MissingField($"messages[{i}].content", "the message's text");
            prompt[i] = new ChatPromptMessage(role, text);
        }
        if (prompt[^1].Role != ChatPromptRole.User)
        {
            throw ApiErrors.InvalidValue($"messages[{messages.Count - 1}].role",
                $"The last message is a{(prompt[^1].Role == ChatPromptRole.Assistant ? "n assistant" : " system")} message; the last must be the user's, for the assistant to answer.");
        }
        ChatTemplate template = ChatTemplate.ForManifest(served.Engine.Model.Manifest);
        ChatPrompt formatted = ChatPrompt.Create(template, served.Engine.Tokenizer, prompt);
        if (formatted.Tokens.Count > served.Limits.MaxPromptTokens)
        {
            throw ApiErrors.PromptTooLong("messages", formatted.Tokens.Count, served.Limits.MaxPromptTokens);
        }
        return new FormattedChat(formatted.Tokens, formatted.CachePoints, template.StopStrings);
    }
}

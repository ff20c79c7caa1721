using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Generation;

[TestFixture]
public sealed class ChatPromptTests
{
    private static readonly ByteTokenizer s_bytes = ByteTokenizer.Create();

    private static (string Text, int[] CachePoints) Format(ChatTemplate template, params ChatPromptMessage[] messages)
    {
        ChatPrompt prompt = ChatPrompt.Create(template, s_bytes, messages);
        return (s_bytes.Decode(prompt.Tokens), [.. prompt.CachePoints]);
    }

    [Test]
    public void Create_WorldConversation_FormatsTurnsAndMarksEveryMessageBoundary()
    {
        var (text, points) = Format(ChatTemplate.World,
            new(ChatPromptRole.System, "Be brief."),
            new(ChatPromptRole.User, "Hi\r\n\r\n\r\nthere "),
            new(ChatPromptRole.Assistant, "Hello!"),
            new(ChatPromptRole.User, "Bye"));

        string system = "System: Be brief.\n\n", user = "User: Hi\nthere\n\nAssistant:", reply = " Hello!\n\n";
        Assert.Multiple(() =>
        {
            Assert.That(text, Is.EqualTo(system + user + reply + "User: Bye\n\nAssistant:"));
            Assert.That(points, Is.EqualTo(new[] { system.Length, (system + user).Length, (system + user + reply).Length }));
        });
    }

    [Test]
    public void Create_OneUserMessage_IsChatSessionsFirstTurn()
    {
        var (text, points) = Format(ChatTemplate.World, new ChatPromptMessage(ChatPromptRole.User, "Hello there"));
        Assert.Multiple(() =>
        {
            Assert.That(text, Is.EqualTo(ChatTemplate.World.FormatTurn("Hello there")));
            Assert.That(points, Is.Empty);
        });
    }

    [Test]
    public void Create_Alpaca_UsesThePreambleOrTheSystemMessageInItsPlace()
    {
        var (withPreamble, _) = Format(ChatTemplate.Alpaca, new ChatPromptMessage(ChatPromptRole.User, "Add 2 and 2."));
        var (withSystem, points) = Format(ChatTemplate.Alpaca,
            new(ChatPromptRole.System, "You are a calculator."), new(ChatPromptRole.User, "Add 2 and 2."));
        Assert.Multiple(() =>
        {
            Assert.That(withPreamble, Is.EqualTo(ChatTemplate.Alpaca.Preamble + "# Instruction:\nAdd 2 and 2.\n\n# Response:\n"));
            Assert.That(withSystem, Is.EqualTo("You are a calculator.\n\n# Instruction:\nAdd 2 and 2.\n\n# Response:\n"));
            Assert.That(points, Is.EqualTo(new[] { "You are a calculator.\n\n".Length }));
        });
    }

    [Test]
    public void Create_ConsecutiveUserMessages_OnlyTheLastOpensTheAssistantTurn()
    {
        var (text, _) = Format(ChatTemplate.World, new(ChatPromptRole.User, "One"), new(ChatPromptRole.User, "Two"));
        Assert.That(text, Is.EqualTo("User: One\n\nUser: Two\n\nAssistant:"));
    }

    [Test]
    public void Create_NoMessagesOrLastNotFromTheUser_Throws()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => ChatPrompt.Create(ChatTemplate.World, s_bytes, []), Throws.ArgumentException.With.Message.Contains("at least one message"));
            Assert.That(() => ChatPrompt.Create(ChatTemplate.World, s_bytes, [new(ChatPromptRole.User, "Hi"), new(ChatPromptRole.Assistant, "Hello")]),
                Throws.ArgumentException.With.Message.Contains("Assistant message"));
        });
    }
}

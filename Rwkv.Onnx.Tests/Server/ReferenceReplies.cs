using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Sampling;

namespace Rwkv.Onnx.Tests.Server;

/// <summary>
/// What the server should answer, computed without the server or the engine: greedy continuation by
/// <see cref="TextGenerator"/>, one sequence alone.
/// </summary>
internal static class ReferenceReplies
{
    /// <summary>The chat template the server formats with (the model's).</summary>
    public static ChatTemplate Template => ChatTemplate.ForManifest(ServerTestModel.Model.Manifest);

    /// <summary>Greedy continuation of <paramref name="prompt"/>, stopping at <paramref name="stops"/> or after <paramref name="maxTokens"/>.</summary>
    public static GenerationResult Greedy(string prompt, int maxTokens, IReadOnlyList<string>? stops = null)
    {
        using var generator = new TextGenerator(ServerTestModel.Model, ServerTestModel.Tokenizer);
        GenerationResult result = generator.Generate(prompt, new GenerationOptions { MaxTokens = maxTokens, Sampling = SamplingSettings.Greedy, StopStrings = stops ?? [] });
        // A reply of a token or two would let a server that sends almost nothing pass.
        return result.GeneratedTokenCount >= Math.Min(3, maxTokens)
            ? result
            : throw new InvalidOperationException($"The reference reply to '{prompt}' is only {result.GeneratedTokenCount} tokens; choose another prompt.");
    }

    /// <summary>The greedy reply to one user message: its formatted prompt (byte tokens decode to exactly that text) continued to the template's stop strings.</summary>
    public static GenerationResult ChatReply(string userMessage, int maxTokens)
    {
        ChatPrompt prompt = ChatPrompt.Create(Template, ServerTestModel.Tokenizer, [new ChatPromptMessage(ChatPromptRole.User, userMessage)]);
        return Greedy(ServerTestModel.Tokenizer.Decode(prompt.Tokens), maxTokens, Template.StopStrings);
    }
}

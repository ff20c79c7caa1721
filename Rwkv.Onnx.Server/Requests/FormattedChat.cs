namespace Rwkv.Onnx.Server.Requests;

/// <summary>A chat request's messages as the engine takes them.</summary>
/// <param name="Tokens">The prompt, ending with the template's assistant prefix.</param>
/// <param name="CachePoints">Prompt lengths at turn boundaries, whose states the prefix cache keeps for the next turn.</param>
/// <param name="StopStrings">The template's stop strings (the next turn's prefix), added to the request's own.</param>
internal sealed record FormattedChat(IReadOnlyList<int> Tokens, IReadOnlyList<int> CachePoints, IReadOnlyList<string> StopStrings);

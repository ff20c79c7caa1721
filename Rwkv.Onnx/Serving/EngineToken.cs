namespace Rwkv.Onnx.Serving;

/// <summary>One piece of a request's output, streamed by <see cref="EngineSequence.ReadAllAsync"/>.</summary>
/// <param name="TokenId">
/// The generated token, or -1 for the last piece of a request: text held back (a split UTF-8 character, the start of a
/// possible stop string) and released when the request ends without a new token.
/// </param>
/// <param name="Text">
/// The new final text: empty while a character or a possible stop string is pending. The pieces' concatenation is
/// <see cref="Generation.GenerationResult.Text"/>.
/// </param>
public readonly record struct EngineToken(int TokenId, string Text);

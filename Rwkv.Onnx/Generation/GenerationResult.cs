namespace Rwkv.Onnx.Generation;

/// <summary>What <see cref="TextGenerator.Generate(string, GenerationOptions?, Action{string}?, CancellationToken)"/> produced, with token counts and timings.</summary>
/// <param name="Text">The generated text, without the prompt and without a stop string and what followed it.</param>
/// <param name="Tokens">The generated token ids, in order (without a stop token; with the tokens of a stop string).</param>
/// <param name="PromptTokenCount">Tokens in the prompt, all fed in the prefill.</param>
/// <param name="PrefillTime">Wall time of the prefill (one <see cref="RwkvRunner.Forward"/> over the prompt).</param>
/// <param name="DecodeTime">Wall time of the decode loop: per token, sampling, decoding text and one step forward.</param>
/// <param name="StopReason">Why generation ended.</param>
public sealed record GenerationResult(string Text, IReadOnlyList<int> Tokens, int PromptTokenCount, TimeSpan PrefillTime, TimeSpan DecodeTime,
    GenerationStopReason StopReason)
{
    /// <summary>Number of generated tokens.</summary>
    public int GeneratedTokenCount => Tokens.Count;

    /// <summary>Prompt tokens per second of prefill; 0 when nothing was timed.</summary>
    public double PrefillTokensPerSecond => Rate(PromptTokenCount, PrefillTime);

    /// <summary>Generated tokens per second of decode; 0 when nothing was timed.</summary>
    public double DecodeTokensPerSecond => Rate(GeneratedTokenCount, DecodeTime);

    private static double Rate(int tokens, TimeSpan time) => time > TimeSpan.Zero ? tokens / time.TotalSeconds : 0;
}

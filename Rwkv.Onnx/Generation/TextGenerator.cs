using System.Diagnostics;
using System.Text;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Generation;

/// <summary>
/// Generates text from a prompt: feeds the whole prompt through <see cref="RwkvRunner.Forward"/> (prefill),
/// then repeatedly samples a token, decodes it (holding split UTF-8 characters) and steps the model with it.
/// </summary>
/// <remarks>
/// The generator does not own the model. Each <see cref="Generate"/> call starts from the model's initial state
/// with its own runner, so calls on different threads are independent as long as their samplers are not shared.
/// </remarks>
public sealed class TextGenerator
{
    private readonly RwkvModel _model;
    private readonly ByteLevelTokenizer _tokenizer;

    /// <summary>Creates a generator over <paramref name="model"/>, encoding and decoding with <paramref name="tokenizer"/>.</summary>
    /// <param name="model">The loaded model; stays owned by the caller and must outlive the generator's use.</param>
    /// <param name="tokenizer">The model's tokenizer, e.g. from <see cref="RwkvTokenizers.Load(RwkvModel)"/>.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The tokenizer's vocabulary is larger than the model's.</exception>
    public TextGenerator(RwkvModel model, ByteLevelTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (tokenizer.VocabularySize > model.VocabSize)
        {
            throw new ArgumentException(
                $"The tokenizer has {tokenizer.VocabularySize} tokens but the model's vocabulary is {model.VocabSize}.", nameof(tokenizer));
        }
        _model = model;
        _tokenizer = tokenizer;
    }

    /// <summary>Generates up to <see cref="GenerationOptions.MaxTokens"/> tokens after <paramref name="prompt"/>.</summary>
    /// <param name="prompt">The prompt; it must encode to at least one token.</param>
    /// <param name="options">Token budget and sampler; null for the defaults (100 tokens, greedy).</param>
    /// <param name="onText">Called with each new piece of text as soon as it is complete (never a split character), if given.</param>
    /// <param name="cancellationToken">Stops generation between tokens; the text so far is discarded.</param>
    /// <returns>The text, the tokens, and the prefill and decode timings.</returns>
    /// <exception cref="ArgumentException"><paramref name="prompt"/> encodes to no tokens.</exception>
    /// <exception cref="OperationCanceledException">Cancellation was requested.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public GenerationResult Generate(string prompt, GenerationOptions? options = null, Action<string>? onText = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options ??= new GenerationOptions();
        int[] promptTokens = [.. _tokenizer.EncodeToIds(prompt)];
        if (promptTokens.Length == 0)
        {
            throw new ArgumentException("The prompt is empty; it must encode to at least one token.", nameof(prompt));
        }

        using RwkvState state = _model.CreateState();
        using RwkvRunner runner = _model.CreateRunner();
        float[] logits = new float[_model.VocabSize];
        StreamingDecoder decoder = _tokenizer.CreateStreamingDecoder();
        var text = new StringBuilder();
        var tokens = new List<int>(options.MaxTokens);

        long start = Stopwatch.GetTimestamp();
        runner.Forward(promptTokens, state, logits);
        TimeSpan prefillTime = Stopwatch.GetElapsedTime(start);

        start = Stopwatch.GetTimestamp();
        for (int i = 0; i < options.MaxTokens; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int token = options.Sampler.Sample(logits);
            tokens.Add(token);
            Emit(decoder.Append(token));
            // Step with every generated token, the last one too: the state then covers all the text.
            runner.Forward([token], state, logits);
        }
        Emit(decoder.Flush());
        TimeSpan decodeTime = Stopwatch.GetElapsedTime(start);

        return new GenerationResult(text.ToString(), tokens, promptTokens.Length, prefillTime, decodeTime);

        void Emit(string piece)
        {
            if (piece.Length > 0)
            {
                text.Append(piece);
                onText?.Invoke(piece);
            }
        }
    }
}

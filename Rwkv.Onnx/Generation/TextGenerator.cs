using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Text;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Sampling;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Generation;

/// <summary>
/// Generates text from a prompt, like Hugging Face's <c>pipeline("text-generation")</c>: feeds the whole prompt
/// through <see cref="RwkvRunner.Forward"/> (prefill), then repeatedly samples a token, decodes it (holding split
/// UTF-8 characters) and steps the model with it, until <see cref="GenerationOptions.MaxTokens"/>, a stop token or a
/// stop string.
/// </summary>
/// <example>
/// <code>
/// using TextGenerator generator = TextGenerator.Load("models/rwkv7-world-0.1b");
/// GenerationResult result = generator.Generate("User: Hi!\n\nAssistant:", new GenerationOptions
/// {
///     MaxTokens = 200,
///     StopStrings = ["\n\n"],
///     Sampling = new SamplingSettings { Temperature = 1.0f, TopP = 0.3f, Seed = 42 },
/// });
/// Console.WriteLine(result.Text);
///
/// await foreach (string piece in generator.GenerateAsync("Once upon a time", new GenerationOptions { MaxTokens = 50 }))
/// {
///     Console.Write(piece);
/// }
/// </code>
/// </example>
/// <remarks>
/// <para>
/// Unlike the Hugging Face pipeline, <see cref="GenerationResult.Text"/> never includes the prompt. Each call
/// without a state starts from the model's initial state with its own state, runner and sampler (created from
/// <see cref="GenerationOptions.Sampling"/>), so calls on different threads are independent, also when they share
/// one <see cref="GenerationOptions"/>. The overloads that take an
/// <see cref="RwkvState"/> continue from it and advance it in place (a conversation, or an initial state from
/// state tuning); such a state belongs to one call at a time.
/// </para>
/// <para>
/// After a generation the state covers the prompt and every generated token (a stop string's tokens included), but
/// not a stop token. A generator made with <see cref="Load"/> owns its model and disposes it; one made with the
/// constructor does not.
/// </para>
/// </remarks>
public sealed class TextGenerator : IDisposable
{
    private readonly bool _ownsModel;

    /// <summary>Creates a generator over <paramref name="model"/>, encoding and decoding with <paramref name="tokenizer"/>.</summary>
    /// <param name="model">The loaded model; stays owned by the caller and must outlive the generator's use.</param>
    /// <param name="tokenizer">The model's tokenizer, e.g. from <see cref="RwkvTokenizers.Load(RwkvModel)"/>.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The tokenizer's vocabulary is larger than the model's.</exception>
    public TextGenerator(RwkvModel model, ByteLevelTokenizer tokenizer)
        : this(model, tokenizer, ownsModel: false)
    {
    }

    private TextGenerator(RwkvModel model, ByteLevelTokenizer tokenizer, bool ownsModel)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (tokenizer.VocabularySize > model.VocabSize)
        {
            throw new ArgumentException(
                $"The tokenizer has {tokenizer.VocabularySize} tokens but the model's vocabulary is {model.VocabSize}.", nameof(tokenizer));
        }
        Model = model;
        Tokenizer = tokenizer;
        _ownsModel = ownsModel;
    }

    /// <summary>The model.</summary>
    public RwkvModel Model { get; }

    /// <summary>The tokenizer.</summary>
    public ByteLevelTokenizer Tokenizer { get; }

    /// <summary>Loads a model directory and the tokenizer its manifest names; the generator owns the model.</summary>
    /// <param name="modelDirectory">An exported model directory.</param>
    /// <param name="options">Session settings; null for the defaults (CPU).</param>
    /// <returns>The generator; the caller disposes it.</returns>
    /// <exception cref="ModelContractException">The directory, a graph or the tokenizer is missing or invalid.</exception>
    /// <exception cref="ExecutionProviderUnavailableException">The requested execution provider is unavailable.</exception>
    public static TextGenerator Load(string modelDirectory, RwkvModelOptions? options = null)
    {
        RwkvModel model = RwkvModel.Load(modelDirectory, options);
        try
        {
            return new TextGenerator(model, RwkvTokenizers.Load(model), ownsModel: true);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Generates text after <paramref name="prompt"/>, from the model's initial state.</summary>
    /// <param name="prompt">The prompt; it must encode to at least one token.</param>
    /// <param name="options">Token budget, sampling and stops; null for the defaults (100 tokens, greedy, stop at end of text).</param>
    /// <param name="onText">Called with each new piece of text as soon as it is final (never a split character, never part of a stop string), if given.</param>
    /// <param name="cancellationToken">Stops generation between tokens with a <see cref="GenerationCanceledException"/>.</param>
    /// <returns>The text, the tokens, the timings and why generation stopped.</returns>
    /// <exception cref="ArgumentException"><paramref name="prompt"/> encodes to no tokens.</exception>
    /// <exception cref="GenerationCanceledException">Cancellation was requested; it carries the tokens and text generated so far.</exception>
    /// <exception cref="NonFiniteValueException">The model produced a NaN or infinite logit; generation stops instead of sampling it.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public GenerationResult Generate(string prompt, GenerationOptions? options = null, Action<string>? onText = null,
        CancellationToken cancellationToken = default)
    {
        int[] promptTokens = EncodePrompt(prompt);
        using RwkvState state = Model.CreateState();
        options ??= new GenerationOptions();
        return Run(promptTokens, state, options, options.CreateSampler(), onText, cancellationToken);
    }

    /// <summary>Generates text after <paramref name="prompt"/>, continuing from <paramref name="state"/> and advancing it in place.</summary>
    /// <param name="prompt">The text to feed first; it must encode to at least one token.</param>
    /// <param name="state">A batch-1 state of this generator's model, e.g. a conversation's state or a clone of a tuned initial state.</param>
    /// <param name="options">Token budget, sampling and stops; null for the defaults.</param>
    /// <param name="onText">Called with each new piece of final text, if given.</param>
    /// <param name="cancellationToken">Stops generation between tokens with a <see cref="GenerationCanceledException"/>; the state then covers the prompt and its <see cref="GenerationCanceledException.GeneratedTokens"/>.</param>
    /// <returns>The text, the tokens, the timings and why generation stopped.</returns>
    /// <exception cref="ArgumentException"><paramref name="prompt"/> encodes to no tokens.</exception>
    /// <exception cref="StateMismatchException"><paramref name="state"/> belongs to another model or holds more than one sequence.</exception>
    /// <exception cref="GenerationCanceledException">Cancellation was requested; it carries the tokens fed to the state and the text passed to <paramref name="onText"/> so far.</exception>
    /// <exception cref="NonFiniteValueException">The model produced a NaN or infinite logit; generation stops instead of sampling it.</exception>
    /// <exception cref="ObjectDisposedException">The model or the state has been disposed.</exception>
    public GenerationResult Generate(string prompt, RwkvState state, GenerationOptions? options = null, Action<string>? onText = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(state);
        options ??= new GenerationOptions();
        return Run(EncodePrompt(prompt), state, options, options.CreateSampler(), onText, cancellationToken);
    }

    /// <summary>
    /// As <see cref="Generate(string, RwkvState, GenerationOptions?, Action{string}?, CancellationToken)"/>, with a
    /// sampler the caller keeps across generations (a conversation's); it is reset first (its penalty counts).
    /// </summary>
    internal GenerationResult Generate(string prompt, RwkvState state, GenerationOptions options, ISampler sampler,
        Action<string>? onText, CancellationToken cancellationToken) =>
        Run(EncodePrompt(prompt), state, options, sampler, onText, cancellationToken);

    /// <summary>Streams the text generated after <paramref name="prompt"/>, from the model's initial state.</summary>
    /// <param name="prompt">The prompt; it must encode to at least one token.</param>
    /// <param name="options">Token budget, sampling and stops; null for the defaults.</param>
    /// <param name="cancellationToken">Stops generation between tokens with an <see cref="OperationCanceledException"/>.</param>
    /// <returns>The pieces of final text (never a split character or part of a stop string); the model runs on the thread pool.</returns>
    /// <exception cref="ArgumentException"><paramref name="prompt"/> encodes to no tokens (thrown at the call).</exception>
    public IAsyncEnumerable<string> GenerateAsync(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default) =>
        StreamAsync(EncodePrompt(prompt), state: null, options ?? new GenerationOptions(), cancellationToken);

    /// <summary>Streams the text generated after <paramref name="prompt"/>, continuing from <paramref name="state"/> and advancing it in place.</summary>
    /// <param name="prompt">The text to feed first; it must encode to at least one token.</param>
    /// <param name="state">A batch-1 state of this generator's model; used by this enumeration alone until it ends.</param>
    /// <param name="options">Token budget, sampling and stops; null for the defaults.</param>
    /// <param name="cancellationToken">Stops generation between tokens with an <see cref="OperationCanceledException"/>.</param>
    /// <returns>The pieces of final text; the model runs on the thread pool.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="state"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="prompt"/> encodes to no tokens (thrown at the call).</exception>
    public IAsyncEnumerable<string> GenerateAsync(string prompt, RwkvState state, GenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(state);
        return StreamAsync(EncodePrompt(prompt), state, options ?? new GenerationOptions(), cancellationToken);
    }

    /// <summary>Disposes the model if this generator loaded it (<see cref="Load"/>); otherwise does nothing.</summary>
    public void Dispose()
    {
        if (_ownsModel)
        {
            Model.Dispose();
        }
    }

    private int[] EncodePrompt(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        int[] tokens = [.. Tokenizer.EncodeToIds(prompt)];
        if (tokens.Length == 0)
        {
            throw new ArgumentException("The prompt is empty; it must encode to at least one token.", nameof(prompt));
        }
        return tokens;
    }

    private GenerationResult Run(int[] promptTokens, RwkvState state, GenerationOptions options, ISampler sampler,
        Action<string>? onText, CancellationToken cancellationToken)
    {
        using RwkvRunner runner = Model.CreateRunner();
        var loop = new DecodeLoop(this, runner, state, options, sampler);
        loop.Prefill(promptTokens);
        while (true)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                GenerationResult partial = loop.Result();
                throw new GenerationCanceledException(partial.Tokens, partial.Text, cancellationToken);
            }
            string? piece = loop.Next();
            if (piece is null)
            {
                return loop.Result();
            }
            if (piece.Length > 0)
            {
                onText?.Invoke(piece);
            }
        }
    }

    private async IAsyncEnumerable<string> StreamAsync(int[] promptTokens, RwkvState? state, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        RwkvState? owned = state is null ? Model.CreateState() : null;
        try
        {
            using RwkvRunner runner = Model.CreateRunner();
            // A sampler per enumeration: enumerating the same stream twice gives two independent generations.
            var loop = new DecodeLoop(this, runner, state ?? owned!, options, options.CreateSampler()); // owned is set when state is null
            await Task.Run(() => loop.Prefill(promptTokens), cancellationToken).ConfigureAwait(false);
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                string? piece = await Task.Run(loop.Next, cancellationToken).ConfigureAwait(false);
                if (piece is null)
                {
                    yield break;
                }
                if (piece.Length > 0)
                {
                    yield return piece;
                }
            }
        }
        finally
        {
            owned?.Dispose();
        }
    }

    /// <summary>One generation: prefill, then one <see cref="Next"/> per token. Not thread-safe; one call at a time.</summary>
    private sealed class DecodeLoop
    {
        private readonly RwkvRunner _runner;
        private readonly RwkvState _state;
        private readonly GenerationOptions _options;
        private readonly ISampler _sampler;
        private readonly HashSet<int> _stopTokens;
        private readonly StreamingDecoder _decoder;
        private readonly StopStringMatcher _stopStrings;
        private readonly float[] _logits;
        private readonly List<int> _tokens = [];
        private readonly StringBuilder _text = new();
        private int _promptTokenCount;
        private TimeSpan _prefillTime;
        private long _decodeStart;
        private TimeSpan _decodeTime;
        private GenerationStopReason _stopReason = GenerationStopReason.MaxTokens;
        private bool _finished;

        public DecodeLoop(TextGenerator generator, RwkvRunner runner, RwkvState state, GenerationOptions options, ISampler sampler)
        {
            _runner = runner;
            _state = state;
            _options = options;
            _sampler = sampler;
            _stopTokens = [.. options.StopTokens];
            if (options.StopAtEndOfText && generator.Tokenizer.EndOfTextId is int endOfText)
            {
                _stopTokens.Add(endOfText);
            }
            _decoder = generator.Tokenizer.CreateStreamingDecoder();
            _stopStrings = new StopStringMatcher(options.StopStrings);
            _logits = new float[generator.Model.VocabSize];
        }

        public void Prefill(int[] promptTokens)
        {
            _sampler.Reset();
            long start = Stopwatch.GetTimestamp();
            _runner.Forward(promptTokens, _state, _logits);
            _prefillTime = Stopwatch.GetElapsedTime(start);
            _promptTokenCount = promptTokens.Length;
            _decodeStart = Stopwatch.GetTimestamp();
        }

        /// <summary>Generates one token; returns its final text (possibly empty), the last text at the end, then null.</summary>
        public string? Next()
        {
            if (_finished)
            {
                return null;
            }
            if (_tokens.Count >= _options.MaxTokens)
            {
                return Finish(GenerationStopReason.MaxTokens);
            }
            if (!TensorPrimitives.IsFiniteAll<float>(_logits))
            {
                NonFiniteValueException.ThrowIfAny(_logits, RwkvContract.LogitsOutput,
                    $"the model's output before generated token {_tokens.Count} (the arithmetic overflowed or the weights are corrupted)");
            }
            int token = _sampler.Sample(_logits);
            if (_stopTokens.Contains(token))
            {
                return Finish(GenerationStopReason.StopToken);
            }
            _sampler.Accept(token);
            _tokens.Add(token);
            string piece = _decoder.Append(token);
            // Step with every generated token, the last one too: the state then covers all the text.
            _runner.Forward([token], _state, _logits);
            string released = _stopStrings.Push(piece);
            _text.Append(released);
            if (_stopStrings.Stopped)
            {
                _finished = true;
                _stopReason = GenerationStopReason.StopString;
                _decodeTime = Stopwatch.GetElapsedTime(_decodeStart);
            }
            return released;
        }

        public GenerationResult Result() =>
            new(_text.ToString(), _tokens, _promptTokenCount, _prefillTime, _decodeTime, _stopReason);

        private string Finish(GenerationStopReason reason)
        {
            _finished = true;
            string rest = _stopStrings.Push(_decoder.Flush());
            _stopReason = _stopStrings.Stopped ? GenerationStopReason.StopString : reason;
            rest += _stopStrings.Flush();
            _text.Append(rest);
            _decodeTime = Stopwatch.GetElapsedTime(_decodeStart);
            return rest;
        }
    }
}

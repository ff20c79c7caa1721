using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Sampling;

namespace Rwkv.Onnx.Generation;

/// <summary>
/// A conversation with a model: each <see cref="Send"/> feeds only the new user turn to the conversation's state and
/// generates the reply from there, so the history is never re-read. The state after a reply covers the whole
/// conversation, exactly as if its tokens (<see cref="HistoryTokens"/>) had been fed from the start.
/// </summary>
/// <example>
/// <code>
/// using TextGenerator generator = TextGenerator.Load("models/rwkv7-world-0.1b");
/// using var chat = new ChatSession(generator, ChatTemplate.World);
/// var options = new GenerationOptions { MaxTokens = 300, Sampling = new SamplingSettings { Temperature = 1, TopP = 0.3f } };
/// Console.WriteLine(chat.Send("What is RWKV?", options).Text);
/// Console.WriteLine(chat.Send("Say it in one sentence.", options).Text);
/// </code>
/// </example>
/// <remarks>
/// A conversation is one sequence: it owns its state and its sampler, created from the first reply's
/// <see cref="GenerationOptions.Sampling"/> and kept while the replies' sampling settings stay equal, so a seeded
/// conversation draws one random sequence from turn to turn (penalty counts start afresh with each reply). Options
/// may be shared with other sessions and generations. Not thread-safe (one conversation, one caller).
/// </remarks>
public sealed class ChatSession : IDisposable
{
    private readonly TextGenerator _generator;
    private readonly RwkvState _state;
    private readonly List<int> _history = [];
    private ISamplerFactory? _samplerSource;
    private ISampler? _sampler;
    private bool _preambleFed;

    /// <summary>Starts a conversation.</summary>
    /// <param name="generator">The generator (model and tokenizer); it must outlive the session.</param>
    /// <param name="template">The turn format; null takes the model's (<see cref="ChatTemplate.ForManifest"/>).</param>
    /// <param name="initialState">A batch-1 state to start from, e.g. one trained by state tuning; it is copied, not changed. Null for the model's initial state.</param>
    /// <exception cref="ArgumentNullException"><paramref name="generator"/> is null.</exception>
    /// <exception cref="StateMismatchException"><paramref name="initialState"/> belongs to another model instance or holds more than one sequence.</exception>
    public ChatSession(TextGenerator generator, ChatTemplate? template = null, RwkvState? initialState = null)
    {
        ArgumentNullException.ThrowIfNull(generator);
        _generator = generator;
        Template = template ?? ChatTemplate.ForManifest(generator.Model.Manifest);
        if (initialState is not null && initialState.BatchSize != 1)
        {
            throw new StateMismatchException("batch 1", $"batch {initialState.BatchSize}",
                $"A chat starts from a state of one sequence; the initial state holds {initialState.BatchSize}.");
        }
        _state = initialState?.Clone() ?? generator.Model.CreateState();
    }

    /// <summary>The turn format.</summary>
    public ChatTemplate Template { get; }

    /// <summary>Every token fed to the conversation's state so far (after the initial state), in order.</summary>
    public IReadOnlyList<int> HistoryTokens => _history;

    /// <summary>The conversation's state (advanced by every turn).</summary>
    internal RwkvState State => _state;

    /// <summary>
    /// Feeds the user turn (<see cref="ChatTemplate.FormatTurn"/>, after the template's preamble on the first turn) and
    /// generates the reply.
    /// </summary>
    /// <param name="userMessage">The user's message.</param>
    /// <param name="options">Budget and sampling; the template's stop strings are added to its own. Null for the defaults.</param>
    /// <param name="onText">Called with each new piece of final reply text, if given.</param>
    /// <param name="cancellationToken">
    /// Stops the reply between tokens. The reply so far stays in the conversation: it was fed to the state, and it is
    /// added to <see cref="HistoryTokens"/> with the template's turn separator after it, so the next <see cref="Send"/>
    /// continues a consistent conversation.
    /// </param>
    /// <returns>The reply (without the stop text).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="userMessage"/> is null.</exception>
    /// <exception cref="GenerationCanceledException">Cancellation was requested; it carries the reply's tokens and the text passed to <paramref name="onText"/> so far.</exception>
    /// <exception cref="ObjectDisposedException">The session or the model has been disposed.</exception>
    public GenerationResult Send(string userMessage, GenerationOptions? options = null, Action<string>? onText = null,
        CancellationToken cancellationToken = default)
    {
        string turn = Template.FormatTurn(userMessage);
        if (!_preambleFed && Template.Preamble is { Length: > 0 } preamble)
        {
            turn = preamble + turn;
        }
        _preambleFed = true;
        options ??= new GenerationOptions();
        var turnOptions = new GenerationOptions
        {
            MaxTokens = options.MaxTokens,
            Sampling = options.Sampling,
            StopTokens = options.StopTokens,
            StopAtEndOfText = options.StopAtEndOfText,
            StopStrings = [.. Template.StopStrings, .. options.StopStrings],
        };
        if (_sampler is null || !Equals(_samplerSource, options.Sampling))
        {
            _sampler = options.CreateSampler();
            _samplerSource = options.Sampling;
        }
        _history.AddRange(_generator.Tokenizer.EncodeToIds(turn));
        GenerationResult result;
        try
        {
            result = _generator.Generate(turn, _state, turnOptions, _sampler, onText, cancellationToken);
        }
        catch (GenerationCanceledException cancelled)
        {
            // The half reply is in the state and the user has seen it, so it stays in the conversation (as a chat UI's
            // "stop" keeps it), ended like any reply that stopped without a stop string.
            _history.AddRange(cancelled.GeneratedTokens);
            EndTurn();
            throw;
        }
        _history.AddRange(result.Tokens);
        if (result.StopReason != GenerationStopReason.StopString)
        {
            EndTurn();
        }
        return result;
    }

    // The reply did not end the turn itself: end it, so the next turn starts on its own line.
    private void EndTurn()
    {
        int[] separator = [.. _generator.Tokenizer.EncodeToIds(Template.TurnSeparator)];
        if (separator.Length > 0)
        {
            using RwkvRunner runner = _generator.Model.CreateRunner();
            runner.Forward(separator, _state, new float[_generator.Model.VocabSize]);
            _history.AddRange(separator);
        }
    }

    /// <summary>Releases the conversation's state.</summary>
    public void Dispose() => _state.Dispose();
}

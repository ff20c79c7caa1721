using System.Diagnostics;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Generation;

/// <summary>
/// Generates several sequences together: each <see cref="Step"/> samples the next token of every active sequence
/// (each with its own sampler, created from its options, and its own stops and budget) and feeds them all to the model in one batched step-graph run.
/// Sequences join with <see cref="Add"/> at any time (their prompt is prefilled alone, so prompts of any length mix)
/// and leave when they finish or are <see cref="Remove"/>d, independently of the others.
/// </summary>
/// <example>
/// <code>
/// using var batch = new BatchGenerator(model, tokenizer);
/// BatchSequence a = batch.Add("The capital of France is", new GenerationOptions { MaxTokens = 20 });
/// BatchSequence b = batch.Add("def fib(n):", new GenerationOptions { MaxTokens = 60, StopStrings = ["\n\n"] });
/// BatchSequence? c = null;
/// while (batch.Step() > 0)
/// {
///     if (a.IsFinished &amp;&amp; c is null)
///     {
///         c = batch.Add("Another prompt");   // joins while b is still generating
///     }
/// }
/// Console.WriteLine(a.Result!.Text + " / " + b.Result!.Text);
/// </code>
/// </example>
/// <remarks>
/// The sequences' states live in one <see cref="RwkvState"/> whose batch is the number of active sequences; when a
/// sequence joins or leaves, the remaining rows are copied into a state of the new size. Each sequence's tokens
/// equal what <see cref="TextGenerator"/> generates for it alone, up to the float rounding of batched matrix
/// products. Not thread-safe: drive it from one thread (or one <see cref="RunAsync"/> at a time). The generator
/// does not own the model.
/// </remarks>
public sealed class BatchGenerator : IDisposable
{
    private readonly RwkvModel _model;
    private readonly ByteLevelTokenizer _tokenizer;
    private readonly RwkvRunner _runner;
    private readonly List<BatchSequence> _active = [];
    private readonly BatchRows _rows;
    private int _nextId;
    private bool _disposed;

    /// <summary>Creates a batch generator over <paramref name="model"/>, encoding and decoding with <paramref name="tokenizer"/>.</summary>
    /// <param name="model">The loaded model; stays owned by the caller and must outlive the generator.</param>
    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The tokenizer's vocabulary is larger than the model's.</exception>
    public BatchGenerator(RwkvModel model, ByteLevelTokenizer tokenizer)
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
        _runner = model.CreateRunner();
        _rows = new BatchRows(model);
    }

    /// <summary>The sequences still generating, in the order they joined.</summary>
    public IReadOnlyList<BatchSequence> Active => _active;

    /// <summary>
    /// Prefills <paramref name="prompt"/> (alone, with the prefill graph) and adds the sequence to the batch; it
    /// generates its first token at the next <see cref="Step"/>.
    /// </summary>
    /// <param name="prompt">The prompt; it must encode to at least one token.</param>
    /// <param name="options">Budget, sampling and stops of this sequence; null for the defaults. Sequences may share one options object: each creates its own sampler from it.</param>
    /// <param name="onText">Called with each new piece of final text of this sequence, if given.</param>
    /// <param name="initialState">A batch-1 state to start from (it is copied, not changed), e.g. a tuned state; null for the model's initial state.</param>
    /// <returns>The sequence.</returns>
    /// <exception cref="ArgumentException"><paramref name="prompt"/> encodes to no tokens.</exception>
    /// <exception cref="StateMismatchException"><paramref name="initialState"/> belongs to another model or holds more than one sequence.</exception>
    /// <exception cref="MemoryLimitExceededException">
    /// The batch with this sequence would not fit in the available memory (see <see cref="RwkvMemoryEstimate"/>).
    /// </exception>
    /// <exception cref="InvalidOperationException">The batch's logits would not fit in one buffer.</exception>
    /// <exception cref="ObjectDisposedException">The generator or the model has been disposed.</exception>
    public BatchSequence Add(string prompt, GenerationOptions? options = null, Action<string>? onText = null, RwkvState? initialState = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(prompt);
        int[] tokens = [.. _tokenizer.EncodeToIds(prompt)];
        if (tokens.Length == 0)
        {
            throw new ArgumentException("The prompt is empty; it must encode to at least one token.", nameof(prompt));
        }
        _rows.RequireRoomFor(_active.Count + 1);
        RwkvState state = initialState?.Clone() ?? _model.CreateState();
        try
        {
            float[] logits = new float[_model.VocabSize];
            long start = Stopwatch.GetTimestamp();
            _runner.Forward(tokens, state, logits);
            var sequence = new BatchSequence(_nextId++, _tokenizer, options ?? new GenerationOptions(), onText, state, logits,
                tokens.Length, Stopwatch.GetElapsedTime(start));
            _active.Add(sequence);
            return sequence;
        }
        catch
        {
            state.Dispose();
            throw;
        }
    }

    /// <summary>Takes <paramref name="sequence"/> out of the batch now, with <see cref="GenerationStopReason.Removed"/>; nothing happens if it has finished.</summary>
    /// <param name="sequence">A sequence of this generator.</param>
    /// <exception cref="ArgumentException"><paramref name="sequence"/> is not an active sequence of this generator and has not finished.</exception>
    public void Remove(BatchSequence sequence)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        if (sequence.IsFinished)
        {
            return;
        }
        if (!_active.Remove(sequence))
        {
            throw new ArgumentException($"Sequence {sequence.Id} is not in this batch.", nameof(sequence));
        }
        sequence.Finish(GenerationStopReason.Removed);
        sequence.PendingState?.Dispose();
        sequence.PendingState = null;
    }

    /// <summary>
    /// Advances every active sequence by one token: samples each one's token (a sequence whose budget is spent or
    /// that samples a stop token leaves the batch), feeds the tokens of the others in one batched run, and decodes them
    /// (a sequence that reaches a stop string leaves the batch).
    /// </summary>
    /// <param name="cancellationToken">Checked before the step.</param>
    /// <returns>The number of sequences still active.</returns>
    /// <exception cref="OperationCanceledException">Cancellation was requested.</exception>
    /// <exception cref="NonFiniteValueException">The model produced a NaN or infinite logit; generation stops instead of sampling it.</exception>
    /// <exception cref="ObjectDisposedException">The generator or the model has been disposed.</exception>
    public int Step(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        cancellationToken.ThrowIfCancellationRequested();
        var stepping = new List<BatchSequence>(_active.Count);
        var tokens = new List<int>(_active.Count);
        foreach (BatchSequence sequence in _active)
        {
            int token = sequence.NextToken();
            if (token >= 0)
            {
                stepping.Add(sequence);
                tokens.Add(token);
            }
            else
            {
                sequence.PendingState?.Dispose();
                sequence.PendingState = null;
            }
        }
        _active.RemoveAll(s => s.IsFinished);
        if (stepping.Count == 0)
        {
            return 0;
        }

        RwkvState state = _rows.Arrange(stepping);
        int vocab = _model.VocabSize;
        float[] logits = new float[stepping.Count * vocab];
        _runner.ForwardBatch(tokens.ToArray(), 1, state, logits, RwkvForwardMode.Step);
        for (int row = 0; row < stepping.Count; row++)
        {
            logits.AsSpan(row * vocab, vocab).CopyTo(stepping[row].Logits);
            stepping[row].AfterStep(tokens[row]);
        }
        _active.RemoveAll(s => s.IsFinished);
        return _active.Count;
    }

    /// <summary>Steps until no sequence is active.</summary>
    /// <param name="cancellationToken">Checked before every step.</param>
    /// <exception cref="OperationCanceledException">Cancellation was requested.</exception>
    public void Run(CancellationToken cancellationToken = default)
    {
        while (Step(cancellationToken) > 0)
        {
        }
    }

    /// <summary>Steps on the thread pool until no sequence is active. Do not call other members until the task ends.</summary>
    /// <param name="cancellationToken">Checked before every step.</param>
    /// <returns>A task that ends when every sequence has finished.</returns>
    public Task RunAsync(CancellationToken cancellationToken = default) => Task.Run(() => Run(cancellationToken), cancellationToken);

    /// <summary>Releases the batch state, the runner and the states of sequences that have not run yet. Does not dispose the model.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        foreach (BatchSequence sequence in _active)
        {
            sequence.PendingState?.Dispose();
            sequence.PendingState = null;
        }
        _rows.Dispose();
        _runner.Dispose();
    }
}

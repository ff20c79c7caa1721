using System.Diagnostics;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Serving;

/// <summary>
/// Serves many requests with one model: one loop (on its own thread) owns the model's runners, admits requests between
/// steps, prefills each new prompt alone in slices of <see cref="RwkvEngineOptions.PrefillChunkTokens"/>, and interleaves
/// those slices with batched decode steps of every active sequence, so a long prompt cannot starve the others. Each request
/// has its own state row (never padded into another's), sampler, stops and budget. After a prefill the state at the end of
/// the prompt (and at each <see cref="EngineRequest.CachePoints"/>) is kept in a prefix state cache; a later request
/// starts from the longest cached prefix of its prompt and prefills only the rest.
/// </summary>
/// <example>
/// <code>
/// using RwkvModel model = RwkvModel.Load("models/rwkv7-0.1b");
/// await using var engine = new RwkvEngine(model, RwkvTokenizers.Load(model));
/// EngineSequence sequence = engine.Submit(new EngineRequest
/// {
///     PromptTokens = [.. engine.Tokenizer.EncodeToIds("The capital of France is")],
///     Options = new GenerationOptions { MaxTokens = 20 },
/// });
/// await foreach (EngineToken token in sequence.ReadAllAsync())
/// {
///     Console.Write(token.Text);
/// }
/// EngineResult result = await sequence.Completion;
/// </code>
/// </example>
/// <remarks>
/// <para>
/// Thread-safe: <see cref="Submit"/>, <see cref="RegisterState"/> and <see cref="GetStats"/> may be called from any thread.
/// The engine does not own the model or the tokenizer; dispose the engine first.
/// </para>
/// <para>
/// At temperature 0 a request generates the tokens <see cref="TextGenerator"/> generates for it alone, up to the float
/// rounding of batched matrix products (as <see cref="BatchGenerator"/>). A request that starts from a cached prefix
/// prefills its prompt with a different split than a cold prefill; the logits agree within the bound measured in
/// BENCHMARKS.md ("Prefix state cache"), not bit for bit.
/// </para>
/// <para>
/// The decode step reuses the batch state, token and logits buffers while the batch is unchanged, so the runner's
/// step binding is reused and nothing is allocated per step beyond each sequence's text.
/// </para>
/// </remarks>
public sealed class RwkvEngine : IAsyncDisposable, IDisposable
{
    private readonly RwkvRunner _decodeRunner;
    private readonly RwkvRunner _prefillRunner;   // its own runner, so a one-token prefill never rebinds the decode runner's step binding
    private readonly BatchRows _rows;
    private readonly PrefixStateCache _cache;
    private readonly object _lock = new();
    private readonly Queue<EngineSequence> _queue = new();                                          // under _lock
    private readonly Dictionary<string, StateSnapshot> _states = new(StringComparer.Ordinal);       // under _lock
    private readonly List<EngineSequence> _prefilling = [];   // loop thread only, from here to _stepLogits
    private readonly List<EngineSequence> _active = [];
    private readonly List<EngineSequence> _steppingRequests = [];
    private readonly List<BatchSequence> _stepping = [];
    private readonly int[] _stepTokens;
    private readonly float[] _stepLogits;
    private readonly SemaphoreSlim _wake = new(0);
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _loop;
    private bool _stopping;             // under _lock
    private bool _disposed;             // under _lock
    private int _rowsInUse;             // under _lock: requests admitted to a row and not yet completed
    private double _meanRequestSeconds; // under _lock: moving mean of submit-to-end times, for RetryAfter
    private long _nextId;
    private long _completed, _generated, _prefilled, _steps, _stepRows, _hits, _misses, _reused, _cacheEntries, _cacheBytes;

    /// <summary>Creates an engine over <paramref name="model"/> and starts its loop.</summary>
    /// <param name="model">The loaded model; stays owned by the caller and must outlive the engine.</param>
    /// <param name="tokenizer">The model's tokenizer (decodes the output; requests arrive as token ids).</param>
    /// <param name="options">Bounds and scheduling; null for the defaults.</param>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> or <paramref name="tokenizer"/> is null.</exception>
    /// <exception cref="ArgumentException">The tokenizer's vocabulary is larger than the model's.</exception>
    /// <exception cref="InvalidOperationException">The logits of <see cref="RwkvEngineOptions.MaxConcurrentSequences"/> rows would not fit in one buffer.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public RwkvEngine(RwkvModel model, ByteLevelTokenizer tokenizer, RwkvEngineOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        model.ThrowIfDisposed();
        if (tokenizer.VocabularySize > model.VocabSize)
        {
            throw new ArgumentException(
                $"The tokenizer has {tokenizer.VocabularySize} tokens but the model's vocabulary is {model.VocabSize}.", nameof(tokenizer));
        }
        Model = model;
        Tokenizer = tokenizer;
        Options = options ?? new RwkvEngineOptions();
        long logits = (long)Options.MaxConcurrentSequences * model.VocabSize;
        if (logits > Array.MaxLength)
        {
            throw new InvalidOperationException(
                $"{Options.MaxConcurrentSequences} concurrent sequences would need {logits} logits per step ({Options.MaxConcurrentSequences} × vocabulary {model.VocabSize}), more than one buffer holds ({Array.MaxLength} floats).");
        }
        _stepTokens = new int[Options.MaxConcurrentSequences];
        _stepLogits = new float[logits];
        _cache = new PrefixStateCache(Options.PrefixCacheBytes);
        _rows = new BatchRows(model);
        _decodeRunner = model.CreateRunner();
        _prefillRunner = model.CreateRunner();
        _loop = Task.Factory.StartNew(Loop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>The model the engine runs.</summary>
    public RwkvModel Model { get; }

    /// <summary>The tokenizer that decodes the output.</summary>
    public ByteLevelTokenizer Tokenizer { get; }

    /// <summary>The engine's bounds and scheduling.</summary>
    public RwkvEngineOptions Options { get; }

    /// <summary>The names of the registered start states.</summary>
    public IReadOnlyCollection<string> StateNames
    {
        get
        {
            lock (_lock)
            {
                return [.. _states.Keys];
            }
        }
    }

    /// <summary>Test access to the prefix cache; read it only while the engine is idle (its loop is the only user).</summary>
    internal PrefixStateCache Cache => _cache;

    /// <summary>Test hook: called on the loop thread with each prefill slice and decode step, in order.</summary>
    internal Action<EngineLoopEvent>? LoopEvent { get; set; }

    /// <summary>
    /// Registers <paramref name="state"/> under <paramref name="name"/> as a start state for requests
    /// (<see cref="EngineRequest.InitialStateName"/>), e.g. a state saved with <see cref="RwkvState.Save"/> or an RWKV-PEFT
    /// state-tuning file (<see cref="RwkvState.FromTimeState"/>). The state is copied; the caller keeps and disposes it.
    /// Registering a name again replaces its state for later requests.
    /// </summary>
    /// <param name="name">The state's name; not empty.</param>
    /// <param name="state">A batch-1 state of the engine's model.</param>
    /// <exception cref="ArgumentException"><paramref name="name"/> is null or empty.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="state"/> is null.</exception>
    /// <exception cref="StateMismatchException">The state belongs to another model instance or holds more than one sequence.</exception>
    /// <exception cref="ObjectDisposedException">The engine or the state has been disposed.</exception>
    public void RegisterState(string name, RwkvState state)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(state);
        StateSnapshot snapshot = StateSnapshot.Capture(Model, state);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _states[name] = snapshot;
        }
    }

    /// <summary>
    /// Queues <paramref name="request"/>; it runs as soon as a row is free. Its tokens stream through
    /// <see cref="EngineSequence.ReadAllAsync"/> and its outcome is <see cref="EngineSequence.Completion"/>.
    /// </summary>
    /// <param name="request">The prompt tokens, options, start state and cache points.</param>
    /// <param name="cancellationToken">
    /// Ends the request (e.g. a client disconnected): a queued request leaves the queue, a running one frees its row at the
    /// next step; either completes with <see cref="GenerationStopReason.Canceled"/> and the tokens generated so far.
    /// </param>
    /// <returns>The submitted request.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> or one of its lists is null.</exception>
    /// <exception cref="ArgumentException">The prompt is empty, a token id is outside the vocabulary, or a cache point is outside <c>[1, prompt length]</c>.</exception>
    /// <exception cref="UnknownStateException">No state is registered under <see cref="EngineRequest.InitialStateName"/>.</exception>
    /// <exception cref="EngineQueueFullException">Every row is busy and <see cref="RwkvEngineOptions.MaxQueuedRequests"/> requests are waiting.</exception>
    /// <exception cref="EngineStoppingException"><see cref="DrainAsync"/> has been called.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> is already cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The engine has been disposed.</exception>
    public EngineSequence Submit(EngineRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.PromptTokens, nameof(request.PromptTokens));
        ArgumentNullException.ThrowIfNull(request.Options, nameof(request.Options));
        ArgumentNullException.ThrowIfNull(request.CachePoints, nameof(request.CachePoints));
        int[] prompt = [.. request.PromptTokens];
        int[] cachePoints = ValidateRequest(prompt, request.CachePoints);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_stopping)
            {
                throw new EngineStoppingException();
            }
            StateSnapshot? start = null;
            if (request.InitialStateName is { } name && !_states.TryGetValue(name, out start))
            {
                throw new UnknownStateException(name, _states.Keys);
            }
            int freeRows = Math.Max(0, Options.MaxConcurrentSequences - _rowsInUse);
            if (_queue.Count >= Options.MaxQueuedRequests + freeRows)
            {
                int waiting = _queue.Count - freeRows;
                throw new EngineQueueFullException(waiting, EstimateRetryAfter(waiting));
            }
            var sequence = new EngineSequence(_nextId++, prompt, request, start, cachePoints, () => _wake.Release());
            sequence.ObserveCancellation(cancellationToken);
            _queue.Enqueue(sequence);
            _wake.Release();
            return sequence;
        }
    }

    /// <summary>A snapshot of the engine's gauges and counters.</summary>
    /// <returns>The snapshot.</returns>
    public EngineStats GetStats()
    {
        int active, queued;
        lock (_lock)
        {
            active = _rowsInUse;
            queued = _queue.Count;
        }
        return new EngineStats(active, queued, Interlocked.Read(ref _completed), Interlocked.Read(ref _generated),
            Interlocked.Read(ref _prefilled), Interlocked.Read(ref _steps), Interlocked.Read(ref _stepRows),
            Interlocked.Read(ref _hits), Interlocked.Read(ref _misses), Interlocked.Read(ref _cacheEntries),
            Interlocked.Read(ref _cacheBytes), Interlocked.Read(ref _reused));
    }

    /// <summary>
    /// Stops admitting requests (<see cref="Submit"/> then throws <see cref="EngineStoppingException"/>) and waits until
    /// every running and queued request has ended, e.g. on SIGTERM before disposing the engine.
    /// </summary>
    /// <param name="cancellationToken">Stops the waiting (the engine keeps draining).</param>
    /// <returns>A task that completes when the engine is idle.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled before the engine was idle.</exception>
    public Task DrainAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            _stopping = true;
        }
        _wake.Release();
        return _drained.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Stops the loop after its current step, ends every remaining request with <see cref="GenerationStopReason.Canceled"/>,
    /// and releases the runners and states; waits for the loop thread. Does not dispose the model. Safe to call twice.
    /// </summary>
    public void Dispose()
    {
        BeginDispose();
        _loop.Wait();
        _wake.Dispose();
    }

    /// <summary>As <see cref="Dispose"/>, waiting for the loop thread asynchronously.</summary>
    /// <returns>A task that completes when the engine is disposed.</returns>
    public async ValueTask DisposeAsync()
    {
        BeginDispose();
        await _loop.ConfigureAwait(false);
        _wake.Dispose();
    }

    private void BeginDispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
        }
        _wake.Release();
    }

    private int[] ValidateRequest(int[] prompt, IReadOnlyList<int> cachePoints)
    {
        if (prompt.Length == 0)
        {
            throw new ArgumentException("The prompt has no tokens; a request needs at least one.", nameof(EngineRequest.PromptTokens));
        }
        int vocab = Model.VocabSize;
        for (int i = 0; i < prompt.Length; i++)
        {
            if ((uint)prompt[i] >= (uint)vocab)
            {
                throw new ArgumentException(
                    $"Prompt token {i} has id {prompt[i]}, outside the model's vocabulary: ids must be in [0, {vocab}).", nameof(EngineRequest.PromptTokens));
            }
        }
        foreach (int point in cachePoints)
        {
            if (point < 1 || point > prompt.Length)
            {
                throw new ArgumentException(
                    $"Cache point {point} is outside the prompt: cache points are prompt lengths in [1, {prompt.Length}].", nameof(EngineRequest.CachePoints));
            }
        }
        return [.. cachePoints.Where(p => p < prompt.Length).Distinct().Order()];
    }

    // The queue ahead, shared among the rows, times the mean request time; at least a second.
    private TimeSpan EstimateRetryAfter(int waiting)
    {
        double rounds = Math.Ceiling((waiting + 1.0) / Options.MaxConcurrentSequences);
        return TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling(rounds * _meanRequestSeconds)));
    }

    private void Loop()
    {
        var canceledInQueue = new List<EngineSequence>();
        var admitted = new List<EngineSequence>();
        while (true)
        {
            bool idle;
            lock (_lock)
            {
                if (_disposed)
                {
                    break;
                }
                TakeCanceledFromQueue(canceledInQueue);
                while (_queue.Count > 0 && _rowsInUse < Options.MaxConcurrentSequences)
                {
                    admitted.Add(_queue.Dequeue());
                    _rowsInUse++;
                }
                idle = _queue.Count == 0 && _rowsInUse == 0 && canceledInQueue.Count == 0;
                if (idle && _stopping)
                {
                    _drained.TrySetResult();
                }
            }
            foreach (EngineSequence sequence in canceledInQueue)
            {
                Complete(sequence, CanceledResult(sequence), holdsRow: false);
            }
            canceledInQueue.Clear();
            if (idle)
            {
                _wake.Wait();
                continue;
            }
            foreach (EngineSequence sequence in admitted)
            {
                Admit(sequence);
            }
            admitted.Clear();
            EndCanceled();
            PrefillSlices();
            DecodeStep();
        }
        Shutdown();
    }

    private void TakeCanceledFromQueue(List<EngineSequence> canceled)
    {
        bool any = false;
        foreach (EngineSequence sequence in _queue)
        {
            any |= sequence.CancelRequested;
        }
        if (!any)
        {
            return;
        }
        EngineSequence[] waiting = [.. _queue];
        _queue.Clear();
        foreach (EngineSequence sequence in waiting)
        {
            if (sequence.CancelRequested)
            {
                canceled.Add(sequence);
            }
            else
            {
                _queue.Enqueue(sequence);
            }
        }
    }

    // A request got a row: check memory for the larger batch, then start its prefill from the longest cached prefix.
    private void Admit(EngineSequence sequence)
    {
        sequence.AdmittedAt = Stopwatch.GetTimestamp();
        try
        {
            _rows.RequireRoomFor(_prefilling.Count + _active.Count + 1);
            StartPrefill(sequence);
            _prefilling.Add(sequence);
        }
        catch (Exception e) when (e is RwkvException or InvalidOperationException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            sequence.PrefillState?.Dispose();
            sequence.PrefillState = null;
            Fail(sequence, e);
        }
    }

    private void StartPrefill(EngineSequence sequence)
    {
        PrefixStateCache.Entry? hit = null;
        if (_cache.Enabled)
        {
            hit = _cache.FindLongest(sequence.StateName, sequence.Prompt);
            Interlocked.Increment(ref hit is null ? ref _misses : ref _hits);
        }
        RwkvState state = Model.CreateState();
        sequence.PrefillState = state;
        sequence.Logits = new float[Model.VocabSize];
        if (hit is not null)
        {
            hit.Snapshot.RestoreInto(state);
            hit.Snapshot.Logits!.CopyTo(sequence.Logits, 0);   // cache entries always keep their logits
            sequence.Position = sequence.CachedTokens = hit.Tokens.Length;
            Interlocked.Add(ref _reused, hit.Tokens.Length);
        }
        else
        {
            sequence.StartState?.RestoreInto(state);
        }
        sequence.UncachedTokens = sequence.Prompt.Length - sequence.Position;
        sequence.PrefillStartedAt = Stopwatch.GetTimestamp();
    }

    // Cancelled requests leave now: their rows are free for the next admission and the next step's batch.
    private void EndCanceled()
    {
        for (int i = _prefilling.Count - 1; i >= 0; i--)
        {
            EngineSequence sequence = _prefilling[i];
            if (sequence.CancelRequested)
            {
                _prefilling.RemoveAt(i);
                sequence.PrefillState?.Dispose();
                sequence.PrefillState = null;
                Complete(sequence, CanceledResult(sequence), holdsRow: true);
            }
        }
        for (int i = _active.Count - 1; i >= 0; i--)
        {
            EngineSequence sequence = _active[i];
            if (sequence.CancelRequested)
            {
                _active.RemoveAt(i);
                BatchSequence batch = sequence.Batch!;   // set when the request joined _active
                batch.Finish(GenerationStopReason.Canceled);
                batch.PendingState?.Dispose();
                batch.PendingState = null;
                Complete(sequence, batch.Result!, holdsRow: true);   // Finish set the result
            }
        }
    }

    // Prefills slices of the waiting prompts, first come first served, up to PrefillChunkTokens tokens (at least one slice).
    private void PrefillSlices()
    {
        int budget = Options.PrefillChunkTokens;
        bool fedAny = false;
        for (int i = 0; i < _prefilling.Count && budget > 0;)
        {
            EngineSequence sequence = _prefilling[i];
            int end = SliceEnd(sequence);
            int length = end - sequence.Position;
            if (fedAny && length > budget)
            {
                break;
            }
            try
            {
                if (length > 0)
                {
                    FeedSlice(sequence, end);
                    budget -= length;
                    fedAny = true;
                }
                if (sequence.Position < sequence.Prompt.Length)
                {
                    i++;
                    continue;
                }
                _prefilling.RemoveAt(i);
                JoinBatch(sequence);
            }
            catch (Exception e) when (e is RwkvException or InvalidOperationException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
            {
                _prefilling.RemoveAt(i);
                sequence.PrefillState?.Dispose();
                sequence.PrefillState = null;
                Fail(sequence, e);
            }
        }
    }

    // A slice ends at the next multiple of PrefillChunkTokens, the next cache point or the prompt's end, whichever is first.
    private int SliceEnd(EngineSequence sequence)
    {
        int chunk = Options.PrefillChunkTokens;
        int end = Math.Min(sequence.Prompt.Length, ((sequence.Position / chunk) + 1) * chunk);
        foreach (int point in sequence.CachePoints)
        {
            if (point > sequence.Position)
            {
                return Math.Min(end, point);
            }
        }
        return end;
    }

    private void FeedSlice(EngineSequence sequence, int end)
    {
        int start = sequence.Position;
        // As TextGenerator: a one-token prompt steps, a longer one prefills throughout (its one-token last slice too).
        RwkvForwardMode mode = sequence.UncachedTokens == 1 ? RwkvForwardMode.Auto : RwkvForwardMode.Prefill;
        _prefillRunner.Forward(sequence.Prompt.AsSpan(start, end - start), sequence.PrefillState!, sequence.Logits, mode);
        sequence.Position = end;
        Interlocked.Add(ref _prefilled, end - start);
        LoopEvent?.Invoke(new EngineLoopEvent(EngineLoopEventKind.PrefillSlice, [sequence.Id], end - start));
        if (_cache.Enabled && (end == sequence.Prompt.Length || Array.BinarySearch(sequence.CachePoints, end) >= 0))
        {
            _cache.Add(sequence.StateName, sequence.Prompt.AsSpan(0, end), StateSnapshot.Capture(Model, sequence.PrefillState!, sequence.Logits));
            Interlocked.Exchange(ref _cacheEntries, _cache.Count);
            Interlocked.Exchange(ref _cacheBytes, _cache.Bytes);
        }
    }

    // The prompt is in the request's state: it joins the batch and samples its first token at the next step.
    private void JoinBatch(EngineSequence sequence)
    {
        TimeSpan prefillTime = Stopwatch.GetElapsedTime(sequence.PrefillStartedAt);
        sequence.Batch = new BatchSequence(unchecked((int)sequence.Id), Tokenizer, sequence.Options, sequence.OnText,
            sequence.PrefillState!, sequence.Logits!, sequence.Prompt.Length, prefillTime);
        sequence.PrefillState = null;   // the batch sequence owns it now, until BatchRows copies it into a row
        _active.Add(sequence);
    }

    // One token of every active sequence: sample each one's token (those that end leave), then one batched step-graph run.
    private void DecodeStep()
    {
        _stepping.Clear();
        _steppingRequests.Clear();
        for (int i = 0; i < _active.Count; i++)
        {
            EngineSequence sequence = _active[i];
            BatchSequence batch = sequence.Batch!;   // set when the request joined _active
            int token;
            try
            {
                token = batch.NextToken();
            }
            catch (NonFiniteValueException e)
            {
                batch.PendingState?.Dispose();
                batch.PendingState = null;
                Fail(sequence, e);
                continue;
            }
            if (token >= 0)
            {
                _stepTokens[_stepping.Count] = token;
                _stepping.Add(batch);
                _steppingRequests.Add(sequence);
            }
            else
            {
                batch.PendingState?.Dispose();
                batch.PendingState = null;
                Complete(sequence, batch.Result!, holdsRow: true);   // NextToken finished it
            }
        }
        _active.RemoveAll(static s => s.IsCompleted);
        int rows = _stepping.Count;
        if (rows == 0)
        {
            return;
        }
        int vocab = Model.VocabSize;
        try
        {
            RwkvState state = _rows.Arrange(_stepping);
            _decodeRunner.ForwardBatch(_stepTokens.AsSpan(0, rows), 1, state, _stepLogits.AsSpan(0, rows * vocab), RwkvForwardMode.Step);
        }
        catch (Exception e) when (e is RwkvException or InvalidOperationException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            // The batch state may be half advanced: every sequence of the step fails, and the state is dropped.
            _rows.Reset();
            foreach (EngineSequence sequence in _steppingRequests)
            {
                sequence.Batch!.PendingState?.Dispose();
                sequence.Batch.PendingState = null;
                Fail(sequence, e);
            }
            _active.RemoveAll(static s => s.IsCompleted);
            return;
        }
        Interlocked.Increment(ref _steps);
        Interlocked.Add(ref _stepRows, rows);
        Interlocked.Add(ref _generated, rows);
        if (LoopEvent is { } onEvent)
        {
            onEvent(new EngineLoopEvent(EngineLoopEventKind.DecodeStep, [.. _steppingRequests.Select(s => s.Id)], rows));
        }
        for (int row = 0; row < rows; row++)
        {
            BatchSequence batch = _stepping[row];
            _stepLogits.AsSpan(row * vocab, vocab).CopyTo(batch.Logits);
            batch.AfterStep(_stepTokens[row]);
            EngineSequence sequence = _steppingRequests[row];
            sequence.Emit(_stepTokens[row]);
            if (batch.IsFinished)
            {
                Complete(sequence, batch.Result!, holdsRow: true);   // a stop string ended it
            }
        }
        _active.RemoveAll(static s => s.IsCompleted);
    }

    private static GenerationResult CanceledResult(EngineSequence sequence) =>
        new("", [], sequence.Prompt.Length, TimeSpan.Zero, TimeSpan.Zero, GenerationStopReason.Canceled);

    private void Complete(EngineSequence sequence, GenerationResult result, bool holdsRow)
    {
        sequence.Complete(result);
        Ended(sequence, holdsRow);
    }

    private void Fail(EngineSequence sequence, Exception exception)
    {
        sequence.Fail(exception);
        Ended(sequence, holdsRow: true);
    }

    private void Ended(EngineSequence sequence, bool holdsRow)
    {
        double seconds = Stopwatch.GetElapsedTime(sequence.SubmittedAt).TotalSeconds;
        lock (_lock)
        {
            if (holdsRow)
            {
                _rowsInUse--;
            }
            _meanRequestSeconds = _meanRequestSeconds == 0 ? seconds : (0.8 * _meanRequestSeconds) + (0.2 * seconds);
        }
        Interlocked.Increment(ref _completed);
    }

    // The loop's last act: every remaining request ends as cancelled, then the runners and states go.
    private void Shutdown()
    {
        EngineSequence[] queued;
        lock (_lock)
        {
            queued = [.. _queue];
            _queue.Clear();
        }
        foreach (EngineSequence sequence in queued)
        {
            Complete(sequence, CanceledResult(sequence), holdsRow: false);
        }
        foreach (EngineSequence sequence in _prefilling)
        {
            sequence.PrefillState?.Dispose();
            sequence.PrefillState = null;
            Complete(sequence, CanceledResult(sequence), holdsRow: true);
        }
        _prefilling.Clear();
        foreach (EngineSequence sequence in _active)
        {
            BatchSequence batch = sequence.Batch!;   // set when the request joined _active
            batch.Finish(GenerationStopReason.Canceled);
            batch.PendingState?.Dispose();
            batch.PendingState = null;
            Complete(sequence, batch.Result!, holdsRow: true);
        }
        _active.Clear();
        _rows.Dispose();
        _decodeRunner.Dispose();
        _prefillRunner.Dispose();
        _drained.TrySetResult();
    }
}

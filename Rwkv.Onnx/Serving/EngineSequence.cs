using System.Diagnostics;
using System.Threading.Channels;
using Rwkv.Onnx.Generation;

namespace Rwkv.Onnx.Serving;

/// <summary>
/// A request submitted to an <see cref="RwkvEngine"/>: its output streams through <see cref="ReadAllAsync"/> and its
/// outcome is <see cref="Completion"/>.
/// </summary>
/// <remarks>
/// The tokens are buffered until read, so reading is optional (<see cref="Completion"/> alone is enough) and a slow
/// reader never holds up the batch. A cancelled request ends normally, with <see cref="GenerationStopReason.Canceled"/>:
/// <see cref="ReadAllAsync"/> ends and <see cref="Completion"/> completes with the tokens generated so far. A request
/// that fails (e.g. the model produced a non-finite logit) ends <see cref="ReadAllAsync"/> and <see cref="Completion"/>
/// with that exception. Thread-safe.
/// </remarks>
public sealed class EngineSequence
{
    private readonly Channel<EngineToken> _tokens =
        Channel.CreateUnbounded<EngineToken>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly TaskCompletionSource<EngineResult> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Action _wake;
    private CancellationTokenRegistration _cancellation;
    private string _pendingText = "";
    private volatile bool _cancelRequested;

    internal EngineSequence(long id, int[] prompt, EngineRequest request, StateSnapshot? startState, int[] cachePoints, Action wake)
    {
        Id = id;
        Prompt = prompt;
        Options = request.Options;
        StateName = request.InitialStateName;
        StartState = startState;
        CachePoints = cachePoints;
        _wake = wake;
        SubmittedAt = Stopwatch.GetTimestamp();
    }

    /// <summary>The order of submission, from 0.</summary>
    public long Id { get; }

    /// <summary>Tokens in the prompt.</summary>
    public int PromptTokenCount => Prompt.Length;

    /// <summary>The outcome: completes when the request ends (see the remarks for cancellation and failure).</summary>
    public Task<EngineResult> Completion => _completion.Task;

    internal int[] Prompt { get; }

    internal GenerationOptions Options { get; }

    internal string? StateName { get; }

    internal StateSnapshot? StartState { get; }

    /// <summary>Prompt lengths to cache, ascending, distinct, each below the prompt's length (whose end is always cached).</summary>
    internal int[] CachePoints { get; }

    internal long SubmittedAt { get; }

    internal long AdmittedAt { get; set; }

    internal long PrefillStartedAt { get; set; }

    internal long FirstTokenAt { get; set; }

    /// <summary>Prompt tokens fed so far (or served from the cache).</summary>
    internal int Position { get; set; }

    internal int CachedTokens { get; set; }

    /// <summary>Prompt tokens left to prefill when the prefill started (after the cache): 1 steps, more prefill, as <see cref="TextGenerator"/> does.</summary>
    internal int UncachedTokens { get; set; }

    /// <summary>The request's own state while it is prefilled; null before and once it joined the batch.</summary>
    internal RwkvState? PrefillState { get; set; }

    internal float[]? Logits { get; set; }

    /// <summary>The request's row bookkeeping once its prefill is done.</summary>
    internal BatchSequence? Batch { get; set; }

    internal bool CancelRequested => _cancelRequested;

    internal bool IsCompleted => _completion.Task.IsCompleted;

    /// <summary>Streams the request's output, one <see cref="EngineToken"/> per generated token, until the request ends. Single reader.</summary>
    /// <param name="cancellationToken">Stops the reading (with <see cref="OperationCanceledException"/>); it does not cancel the request.</param>
    /// <returns>The tokens; the enumeration throws the request's exception if it failed.</returns>
    public IAsyncEnumerable<EngineToken> ReadAllAsync(CancellationToken cancellationToken = default) => _tokens.Reader.ReadAllAsync(cancellationToken);

    internal void ObserveCancellation(CancellationToken cancellationToken) =>
        _cancellation = cancellationToken.Register(static s => ((EngineSequence)s!).RequestCancel(), this);

    internal void RequestCancel()
    {
        _cancelRequested = true;
        _wake();
    }

    /// <summary>Collects text released by the sequence's decoder; sent with the next <see cref="Emit"/>.</summary>
    internal void OnText(string piece) => _pendingText += piece;

    /// <summary>Sends the text collected since the last call with <paramref name="tokenId"/> (-1: a last piece without a token, sent only if not empty).</summary>
    internal void Emit(int tokenId)
    {
        if (tokenId < 0 && _pendingText.Length == 0)
        {
            return;
        }
        if (tokenId >= 0 && FirstTokenAt == 0)
        {
            FirstTokenAt = Stopwatch.GetTimestamp();
        }
        _tokens.Writer.TryWrite(new EngineToken(tokenId, _pendingText));
        _pendingText = "";
    }

    internal void Complete(GenerationResult generation)
    {
        Emit(-1);
        _cancellation.Dispose();
        _tokens.Writer.TryComplete();
        TimeSpan queue = AdmittedAt == 0 ? Stopwatch.GetElapsedTime(SubmittedAt) : Stopwatch.GetElapsedTime(SubmittedAt, AdmittedAt);
        TimeSpan firstToken = FirstTokenAt == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(SubmittedAt, FirstTokenAt);
        _completion.TrySetResult(new EngineResult(generation, CachedTokens, queue, firstToken));
    }

    internal void Fail(Exception exception)
    {
        _cancellation.Dispose();
        _tokens.Writer.TryComplete(exception);
        _completion.TrySetException(exception);
    }
}

using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Server.Errors;
using Rwkv.Onnx.Server.Metrics;
using Rwkv.Onnx.Serving;

namespace Rwkv.Onnx.Server.Requests;

/// <summary>Submits a request to the engine, mapping the engine's refusals to HTTP ones, and reads its tokens, recording latencies.</summary>
internal static class SequenceRunner
{
    /// <exception cref="ApiException">429 queue full (with Retry-After), 503 draining, 400 unknown state or bad prompt.</exception>
    public static EngineSequence Submit(ServedModel served, EngineRequest request, string promptParam, CancellationToken cancellationToken)
    {
        try
        {
            return served.Engine.Submit(request, cancellationToken);
        }
        catch (EngineQueueFullException e)
        {
            EngineStats stats = served.Engine.GetStats();
            throw ApiErrors.QueueFull(stats.ActiveSequences, stats.QueuedRequests, e.RetryAfter);
        }
        catch (EngineStoppingException)
        {
            throw ApiErrors.ShuttingDown();
        }
        catch (UnknownStateException e)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, e.Message, "invalid_request_error", "state", "state_not_found");
        }
        catch (ArgumentException e)
        {
            throw ApiErrors.InvalidValue(promptParam, e.Message);
        }
    }

    /// <summary>Passes each token to <paramref name="onToken"/> as the engine produces it; returns when the sequence ends or is cancelled.</summary>
    public static async Task<SequenceOutcome> ReadAsync(EngineSequence sequence, ServerMetrics metrics, Func<EngineToken, Task> onToken,
        CancellationToken cancellationToken)
    {
        int tokens = 0;
        long previous = 0;
        try
        {
            await foreach (EngineToken token in sequence.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                // Id -1 is held-back text released at the end, not a token.
                if (token.TokenId >= 0)
                {
                    long now = Stopwatch.GetTimestamp();
                    metrics.RecordToken(tokens == 0 ? null : Stopwatch.GetElapsedTime(previous, now));
                    previous = now;
                    tokens++;
                }
                await onToken(token).ConfigureAwait(false);
            }
            EngineResult result = await sequence.Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (result.Generation.Tokens.Count > 0)
            {
                metrics.RecordTimeToFirstToken(result.TimeToFirstToken);
            }
            return IsCanceled(result) ? new SequenceOutcome(null, tokens) : new SequenceOutcome(result, tokens);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The engine frees the row at its next step; observe the completion so its cancellation is not unobserved.
            _ = sequence.Completion.ContinueWith(static task => task.Exception, CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return new SequenceOutcome(null, tokens);
        }
    }

    /// <summary>OpenAI's <c>finish_reason</c>: <c>length</c> when the token limit ended it, <c>stop</c> otherwise.</summary>
    public static string FinishReason(EngineResult result) =>
        result.Generation.StopReason == GenerationStopReason.MaxTokens ? "length" : "stop";

    private static bool IsCanceled(EngineResult result) => result.Generation.StopReason == GenerationStopReason.Canceled;
}

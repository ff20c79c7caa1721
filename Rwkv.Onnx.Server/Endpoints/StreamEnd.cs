using Microsoft.AspNetCore.Http;
using Rwkv.Onnx.Server.Errors;
using Rwkv.Onnx.Server.OpenAI;
using Rwkv.Onnx.Server.Requests;
using Rwkv.Onnx.Server.Streaming;

namespace Rwkv.Onnx.Server.Endpoints;

/// <summary>The end of a stream whose sequence was cancelled: nothing more for a client that left, an error event for a time-out.</summary>
internal static class StreamEnd
{
    /// <summary>True when the sequence was cancelled and the stream has been ended; false when it finished and the caller writes the last chunks.</summary>
    public static async Task<bool> EndedEarlyAsync(ServerSentEvents events, SequenceOutcome outcome, RequestDeadline deadline, HttpContext context)
    {
        if (outcome.Result is not null)
        {
            return false;
        }
        if (deadline.TimedOut)
        {
            // The status line is long gone; OpenAI streams report a failure as an event with an error object. No [DONE]
            // follows, so a client cannot take the truncated text for a whole answer.
            ApiException timeout = ApiErrors.Timeout(deadline.Limit, outcome.Tokens);
            await events.WriteAsync(timeout.ToResponse(), OpenAIJson.Context.ErrorResponse, context.RequestAborted).ConfigureAwait(false);
        }
        return true;
    }
}

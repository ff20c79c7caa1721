using Microsoft.AspNetCore.Http;
using Rwkv.Onnx.Server.Errors;
using Rwkv.Onnx.Server.Metrics;
using Rwkv.Onnx.Server.OpenAI;
using Rwkv.Onnx.Server.Requests;
using Rwkv.Onnx.Server.Streaming;
using Rwkv.Onnx.Serving;

namespace Rwkv.Onnx.Server.Endpoints;

/// <summary><c>POST /v1/completions</c>: continues a prompt, as one JSON response or as server-sent events.</summary>
internal sealed class CompletionsEndpoint(ServedModel served, ServerMetrics metrics)
{
    /// <summary>OpenAI's default <c>max_tokens</c> for completions.</summary>
    public const int DefaultMaxTokens = 16;

    public async Task HandleAsync(HttpContext context)
    {
        CompletionRequest request = await RequestBody.ReadAsync(context, OpenAIJson.Context.CompletionRequest).ConfigureAwait(false);
        GenerationRequestReader.CheckModel(request, served);
        string prompt = Prompt(request);
        CheckUnsupported(request);
        GenerationPlan plan = GenerationRequestReader.Read(request, served, served.CompletionDefaults, (request.MaxTokens, "max_tokens"), DefaultMaxTokens, []);
        IReadOnlyList<int> tokens = served.Engine.Tokenizer.EncodeToIds(prompt);
        if (tokens.Count > served.Limits.MaxPromptTokens)
        {
            throw ApiErrors.PromptTooLong("prompt", tokens.Count, served.Limits.MaxPromptTokens);
        }

        var engineRequest = new EngineRequest { PromptTokens = tokens, Options = plan.Options, InitialStateName = plan.StateName };
        using var deadline = new RequestDeadline(context, served.Limits.RequestTimeout);
        EngineSequence sequence = SequenceRunner.Submit(served, engineRequest, "prompt", deadline.Token);
        string id = ResponseIds.New("cmpl");
        long created = ResponseIds.Now();
        if (plan.Stream)
        {
            await StreamAsync(context, sequence, plan, deadline, id, created).ConfigureAwait(false);
            return;
        }
        SequenceOutcome outcome = await SequenceRunner.ReadAsync(sequence, metrics, _ => Task.CompletedTask, deadline.Token).ConfigureAwait(false);
        EngineResult result = Finished(outcome, deadline, context);
        var response = new CompletionResponse(id, created, served.Id,
            [new CompletionChoice(result.Generation.Text, 0, SequenceRunner.FinishReason(result))], UsageOf(result));
        await context.Response.WriteAsJsonAsync(response, OpenAIJson.Context.CompletionResponse, cancellationToken: context.RequestAborted).ConfigureAwait(false);
    }

    private async Task StreamAsync(HttpContext context, EngineSequence sequence, GenerationPlan plan, RequestDeadline deadline, string id, long created)
    {
        var events = new ServerSentEvents(context.Response);
        await events.StartAsync(deadline.Token).ConfigureAwait(false);
        SequenceOutcome outcome = await SequenceRunner.ReadAsync(sequence, metrics, token => token.Text.Length == 0
            ? Task.CompletedTask
            : events.WriteAsync(Chunk(id, created, token.Text, null), OpenAIJson.Context.CompletionResponse, deadline.Token), deadline.Token).ConfigureAwait(false);
        if (await StreamEnd.EndedEarlyAsync(events, outcome, deadline, context).ConfigureAwait(false))
        {
            return;
        }
        EngineResult result = outcome.Result!; // EndedEarlyAsync returned false: the sequence finished
        await events.WriteAsync(Chunk(id, created, "", SequenceRunner.FinishReason(result)), OpenAIJson.Context.CompletionResponse, context.RequestAborted).ConfigureAwait(false);
        if (plan.IncludeUsage)
        {
            await events.WriteAsync(new CompletionResponse(id, created, served.Id, [], UsageOf(result)), OpenAIJson.Context.CompletionResponse, context.RequestAborted).ConfigureAwait(false);
        }
        await events.WriteDoneAsync(context.RequestAborted).ConfigureAwait(false);
    }

    private CompletionResponse Chunk(string id, long created, string text, string? finishReason) =>
        new(id, created, served.Id, [new CompletionChoice(text, 0, finishReason)], null);

    /// <summary>The result of a finished non-streamed sequence; a time-out is a 408, a disconnect ends the request quietly.</summary>
    internal static EngineResult Finished(SequenceOutcome outcome, RequestDeadline deadline, HttpContext context)
    {
        if (outcome.Result is { } result)
        {
            return result;
        }
        if (deadline.TimedOut)
        {
            throw ApiErrors.Timeout(deadline.Limit, outcome.Tokens);
        }
        throw new OperationCanceledException("The client disconnected.", context.RequestAborted);
    }

    internal static Usage UsageOf(EngineResult result) =>
        Usage.Create(result.Generation.PromptTokenCount, result.Generation.GeneratedTokenCount, result.CachedPromptTokens);

    private static string Prompt(CompletionRequest request)
    {
        if (request.Prompt is not { } prompt)
        {
            throw ApiErrors.MissingField("prompt", "the text to continue");
        }
        if (prompt.Count != 1)
        {
            throw ApiErrors.Unsupported("prompt", $"'prompt' has {prompt.Count} strings; this server takes one prompt per request (send several requests; they are batched together).");
        }
        if (prompt[0].Length == 0)
        {
            throw ApiErrors.InvalidValue("prompt", "'prompt' is empty; give at least one character to continue.");
        }
        return prompt[0];
    }

    private static void CheckUnsupported(CompletionRequest request)
    {
        if (request.Echo == true)
        {
            throw ApiErrors.Unsupported("echo", "'echo' is not supported; the response holds the generated text only.");
        }
        if (request.Logprobs is not null)
        {
            throw ApiErrors.Unsupported("logprobs", "'logprobs' is not supported by this server.");
        }
        if (!string.IsNullOrEmpty(request.Suffix))
        {
            throw ApiErrors.Unsupported("suffix", "'suffix' (insertion) is not supported; RWKV continues text left to right.");
        }
        if (request.BestOf is int bestOf && bestOf != 1)
        {
            throw ApiErrors.Unsupported("best_of", $"'best_of' is {bestOf}; only 1 is supported.");
        }
    }
}

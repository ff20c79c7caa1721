using Microsoft.AspNetCore.Http;
using Rwkv.Onnx.Server.Errors;
using Rwkv.Onnx.Server.Metrics;
using Rwkv.Onnx.Server.OpenAI;
using Rwkv.Onnx.Server.Requests;
using Rwkv.Onnx.Server.Streaming;
using Rwkv.Onnx.Serving;

namespace Rwkv.Onnx.Server.Endpoints;

/// <summary>
/// <c>POST /v1/chat/completions</c>: formats the messages with the model's chat template (the runtime's shared chat
/// formatter, so the in-process <c>IChatClient</c> and the server send the engine the same tokens and cache points) and
/// generates the assistant's reply, as one JSON response or as server-sent events.
/// </summary>
internal sealed class ChatCompletionsEndpoint(ServedModel served, ServerMetrics metrics)
{
    public async Task HandleAsync(HttpContext context)
    {
        ChatCompletionRequest request = await RequestBody.ReadAsync(context, OpenAIJson.Context.ChatCompletionRequest).ConfigureAwait(false);
        GenerationRequestReader.CheckModel(request, served);
        if (request.Logprobs == true)
        {
            throw ApiErrors.Unsupported("logprobs", "'logprobs' is not supported by this server.");
        }
        FormattedChat chat = ChatMessages.Format(request.Messages, served);
        GenerationPlan plan = GenerationRequestReader.Read(request, served, served.ChatDefaults, MaxTokens(request), served.Limits.MaxTokens, chat.StopStrings);

        var engineRequest = new EngineRequest
        {
            PromptTokens = chat.Tokens,
            Options = plan.Options,
            InitialStateName = plan.StateName,
            CachePoints = chat.CachePoints,
        };
        using var deadline = new RequestDeadline(context, served.Limits.RequestTimeout);
        EngineSequence sequence = SequenceRunner.Submit(served, engineRequest, "messages", deadline.Token);
        string id = ResponseIds.New("chatcmpl");
        long created = ResponseIds.Now();
        if (plan.Stream)
        {
            await StreamAsync(context, sequence, plan, deadline, id, created).ConfigureAwait(false);
            return;
        }
        SequenceOutcome outcome = await SequenceRunner.ReadAsync(sequence, metrics, _ => Task.CompletedTask, deadline.Token).ConfigureAwait(false);
        EngineResult result = CompletionsEndpoint.Finished(outcome, deadline, context);
        var response = new ChatCompletionResponse(id, created, served.Id,
            [new ChatChoice(0, new AssistantMessage(result.Generation.Text), SequenceRunner.FinishReason(result))], CompletionsEndpoint.UsageOf(result));
        await context.Response.WriteAsJsonAsync(response, OpenAIJson.Context.ChatCompletionResponse, cancellationToken: context.RequestAborted).ConfigureAwait(false);
    }

    private async Task StreamAsync(HttpContext context, EngineSequence sequence, GenerationPlan plan, RequestDeadline deadline, string id, long created)
    {
        var events = new ServerSentEvents(context.Response);
        await events.StartAsync(deadline.Token).ConfigureAwait(false);
        // OpenAI's first chunk carries the role and empty content; clients build the message from it.
        await events.WriteAsync(Chunk(id, created, new ChatDelta("assistant", ""), null), OpenAIJson.Context.ChatCompletionChunk, deadline.Token).ConfigureAwait(false);
        SequenceOutcome outcome = await SequenceRunner.ReadAsync(sequence, metrics, token => token.Text.Length == 0
            ? Task.CompletedTask
            : events.WriteAsync(Chunk(id, created, new ChatDelta(null, token.Text), null), OpenAIJson.Context.ChatCompletionChunk, deadline.Token), deadline.Token).ConfigureAwait(false);
        if (await StreamEnd.EndedEarlyAsync(events, outcome, deadline, context).ConfigureAwait(false))
        {
            return;
        }
        EngineResult result = outcome.Result!; // EndedEarlyAsync returned false: the sequence finished
        await events.WriteAsync(Chunk(id, created, new ChatDelta(null, null), SequenceRunner.FinishReason(result)), OpenAIJson.Context.ChatCompletionChunk, context.RequestAborted).ConfigureAwait(false);
        if (plan.IncludeUsage)
        {
            await events.WriteAsync(new ChatCompletionChunk(id, created, served.Id, [], CompletionsEndpoint.UsageOf(result)), OpenAIJson.Context.ChatCompletionChunk, context.RequestAborted).ConfigureAwait(false);
        }
        await events.WriteDoneAsync(context.RequestAborted).ConfigureAwait(false);
    }

    private ChatCompletionChunk Chunk(string id, long created, ChatDelta delta, string? finishReason) =>
        new(id, created, served.Id, [new ChatChunkChoice(0, delta, finishReason)], null);

    // max_completion_tokens is the newer name the OpenAI SDK sends; max_tokens the older one. Both given must agree.
    private static (int? Value, string Param) MaxTokens(ChatCompletionRequest request) => (request.MaxTokens, request.MaxCompletionTokens) switch
    {
        (int old, int newer) when old != newer => throw ApiErrors.InvalidValue("max_completion_tokens",
            $"'max_tokens' ({old}) and 'max_completion_tokens' ({newer}) disagree; give one of them."),
        (_, int newer) => (newer, "max_completion_tokens"),
        (int old, null) => (old, "max_tokens"),
        _ => (null, "max_completion_tokens"),
    };
}

using Microsoft.AspNetCore.Http;
using Rwkv.Onnx.Generation;
using Rwkv.Onnx.Sampling;
using Rwkv.Onnx.Server.Errors;
using Rwkv.Onnx.Server.OpenAI;

namespace Rwkv.Onnx.Server.Requests;

/// <summary>
/// Checks the fields both endpoints share and turns them into a <see cref="GenerationPlan"/>. Each refusal is a 400 that
/// names the field in OpenAI's spelling and says what is accepted. Ranges are OpenAI's where OpenAI has one
/// (temperature 0 to 2, penalties -2 to 2), so a request OpenAI accepts is not refused here for a looser reason.
/// </summary>
internal static class GenerationRequestReader
{
    /// <summary>The most stop strings a request may give (OpenAI allows 4; llama-server more; these are cheap to match).</summary>
    public const int MaxStopStrings = 16;

    /// <summary>Checks <c>model</c>: required, and the id this server serves.</summary>
    public static void CheckModel(GenerationRequest request, ServedModel served)
    {
        if (request.Model is null)
        {
            throw ApiErrors.MissingField("model", $"the id of the model to use ('{served.Id}', see GET /v1/models)");
        }
        if (request.Model != served.Id)
        {
            throw ApiErrors.ModelNotFound(request.Model, served.Id);
        }
    }

    /// <param name="request">The parsed body.</param>
    /// <param name="served">The model, its engine and the server's limits.</param>
    /// <param name="defaults">The sampling preset for the fields the request leaves out (the model's completion or chat preset).</param>
    /// <param name="maxTokens">The requested output limit and the field it came from.</param>
    /// <param name="defaultMaxTokens">The output limit when the request gives none.</param>
    /// <param name="templateStops">Stop strings the endpoint always adds (a chat template's next-turn prefix).</param>
    public static GenerationPlan Read(GenerationRequest request, ServedModel served, SamplingSettings defaults,
        (int? Value, string Param) maxTokens, int defaultMaxTokens, IReadOnlyList<string> templateStops)
    {
        if (request.N is int n && n != 1)
        {
            throw ApiErrors.Unsupported("n", $"'n' is {n}; this server generates one choice per request (n = 1). Send {n} requests instead; they are batched together.");
        }
        int limit = served.Limits.MaxTokens;
        int tokens = maxTokens.Value ?? Math.Min(defaultMaxTokens, limit);
        if (tokens < 1 || tokens > limit)
        {
            throw ApiErrors.InvalidValue(maxTokens.Param, $"'{maxTokens.Param}' is {tokens}; expected 1 to {limit} (this server's limit, serve --max-tokens).");
        }
        List<string> stops = [.. templateStops];
        if (request.Stop is { } stop)
        {
            if (stop.Count > MaxStopStrings)
            {
                throw ApiErrors.InvalidValue("stop", $"'stop' has {stop.Count} strings; at most {MaxStopStrings} are accepted.");
            }
            int empty = stop.ToList().FindIndex(string.IsNullOrEmpty);
            if (empty >= 0)
            {
                throw ApiErrors.InvalidValue("stop", $"'stop' string {empty} is empty; every stop string needs at least one character.");
            }
            stops.AddRange(stop.Where(value => !stops.Contains(value)));
        }
        if (request.State is { } state && !served.Engine.StateNames.Contains(state))
        {
            string known = served.Engine.StateNames.Count == 0 ? "none is registered (serve --state name=path)" : $"registered: {string.Join(", ", served.Engine.StateNames.Order(StringComparer.Ordinal))}";
            throw new ApiException(StatusCodes.Status400BadRequest, $"'state' is '{state}', which this server does not know; {known}.",
                "invalid_request_error", "state", "state_not_found");
        }
        var options = new GenerationOptions
        {
            MaxTokens = tokens,
            Sampling = Sampling(request, defaults),
            StopStrings = stops,
            StopTokens = served.StopTokenIds,
        };
        bool stream = request.Stream ?? false;
        if (request.StreamOptions is not null && !stream)
        {
            throw ApiErrors.InvalidValue("stream_options", "'stream_options' is only allowed when 'stream' is true.");
        }
        return new GenerationPlan(options, stream, request.StreamOptions?.IncludeUsage ?? false, request.State);
    }

    private static SamplingSettings Sampling(GenerationRequest request, SamplingSettings defaults) => defaults with
    {
        Temperature = Range(request.Temperature, "temperature", 0, 2) ?? defaults.Temperature,
        TopP = TopP(request.TopP) ?? defaults.TopP,
        TopK = request.TopK is int k
            ? k >= 0 ? k : throw ApiErrors.InvalidValue("top_k", $"'top_k' is {k}; expected 0 (no limit) or more.")
            : defaults.TopK,
        PresencePenalty = Range(request.PresencePenalty, "presence_penalty", -2, 2) ?? defaults.PresencePenalty,
        FrequencyPenalty = Range(request.FrequencyPenalty, "frequency_penalty", -2, 2) ?? defaults.FrequencyPenalty,
        // OpenAI's seed is 64-bit; our sampler's is 32-bit, so fold the halves: equal seeds still give equal streams.
        Seed = request.Seed is long seed ? (int)(seed ^ (seed >> 32)) : defaults.Seed,
    };

    private static float? Range(float? value, string param, float min, float max) => value switch
    {
        null => null,
        float v when float.IsFinite(v) && v >= min && v <= max => v,
        float v => throw ApiErrors.InvalidValue(param, $"'{param}' is {v}; expected a number from {min} to {max}."),
    };

    private static float? TopP(float? value) => value switch
    {
        null => null,
        float v when v > 0 && v <= 1 => v,
        float v => throw ApiErrors.InvalidValue("top_p", $"'top_p' is {v}; expected a number greater than 0 and at most 1."),
    };
}

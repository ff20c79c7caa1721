using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;

namespace Rwkv.Onnx.Cli.Bench.Serve;

/// <summary>A streaming OpenAI client of the server, timing each request from the client's side.</summary>
internal sealed class ServeClient(HttpClient http, string modelId)
{
    /// <summary>Streams a completion of exactly what the server generates for <paramref name="prompt"/> (greedy; at most <paramref name="maxTokens"/>).</summary>
    public Task<StreamTiming> CompleteAsync(string prompt, int maxTokens, CancellationToken cancellationToken) =>
        StreamAsync("/v1/completions", JsonSerializer.Serialize(new
        {
            model = modelId,
            prompt,
            max_tokens = maxTokens,
            temperature = 0,
            stream = true,
            stream_options = new { include_usage = true },
        }), cancellationToken);

    /// <summary>Streams a chat reply to <paramref name="messages"/> (role, content pairs).</summary>
    public Task<StreamTiming> ChatAsync(IReadOnlyList<(string Role, string Content)> messages, int maxTokens, CancellationToken cancellationToken) =>
        StreamAsync("/v1/chat/completions", JsonSerializer.Serialize(new
        {
            model = modelId,
            messages = messages.Select(m => new { role = m.Role, content = m.Content }),
            max_tokens = maxTokens,
            temperature = 0,
            stream = true,
            stream_options = new { include_usage = true },
        }), cancellationToken);

    private async Task<StreamTiming> StreamAsync(string path, string body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        long start = Stopwatch.GetTimestamp();
        using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            string error = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            throw new HttpRequestException($"{path} answered {(int)response.StatusCode}: {error}");
        }
        TimeSpan? first = null;
        long previous = 0;
        var gaps = new List<TimeSpan>();
        (int Prompt, int Completion, int Cached) usage = default;
        Stream stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await foreach (SseItem<string> item in SseParser.Create(stream).EnumerateAsync(cancellationToken).ConfigureAwait(false))
        {
            if (item.Data == "[DONE]")
            {
                break;
            }
            long now = Stopwatch.GetTimestamp();
            using JsonDocument chunk = JsonDocument.Parse(item.Data);
            JsonElement root = chunk.RootElement;
            if (root.TryGetProperty("error", out JsonElement failure))
            {
                throw new HttpRequestException($"{path} failed while streaming: {failure.GetProperty("message").GetString()}");
            }
            if (root.GetProperty("choices").GetArrayLength() > 0 && ChunkText(root.GetProperty("choices")[0]) is { Length: > 0 })
            {
                if (first is null)
                {
                    first = Stopwatch.GetElapsedTime(start, now);
                }
                else
                {
                    gaps.Add(Stopwatch.GetElapsedTime(previous, now));
                }
                previous = now;
            }
            if (root.TryGetProperty("usage", out JsonElement u) && u.ValueKind == JsonValueKind.Object)
            {
                usage = (u.GetProperty("prompt_tokens").GetInt32(), u.GetProperty("completion_tokens").GetInt32(),
                    u.TryGetProperty("prompt_tokens_details", out JsonElement details) ? details.GetProperty("cached_tokens").GetInt32() : 0);
            }
        }
        return new StreamTiming(first ?? Stopwatch.GetElapsedTime(start), gaps, usage.Prompt, usage.Completion, usage.Cached);
    }

    private static string? ChunkText(JsonElement choice) =>
        choice.TryGetProperty("text", out JsonElement text) ? text.GetString()
        : choice.TryGetProperty("delta", out JsonElement delta) && delta.TryGetProperty("content", out JsonElement content) ? content.GetString()
        : null;
}

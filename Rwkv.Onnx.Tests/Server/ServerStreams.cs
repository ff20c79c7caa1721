using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;

namespace Rwkv.Onnx.Tests.Server;

/// <summary>Reading a streamed <c>/v1/completions</c> response as a client does: SSE events, the text of each chunk, <c>[DONE]</c>.</summary>
internal static class ServerStreams
{
    public static string CompletionBody(string prompt, int maxTokens, bool stream = true) =>
        JsonSerializer.Serialize(new { model = ServerTestModel.ModelId, prompt, max_tokens = maxTokens, temperature = 0, stream });

    /// <summary>The concatenated text of a streamed completion; fails unless the stream ends with <c>[DONE]</c>.</summary>
    public static async Task<string> ReadCompletionTextAsync(HttpResponseMessage response, CancellationToken cancellationToken = default)
    {
        Assert.That((int)response.StatusCode, Is.EqualTo(200), await ErrorText(response));
        var text = new StringBuilder();
        bool done = false;
        await foreach (SseItem<string> item in SseParser.Create(await response.Content.ReadAsStreamAsync(cancellationToken)).EnumerateAsync(cancellationToken))
        {
            if (item.Data == "[DONE]")
            {
                done = true;
                continue;
            }
            using JsonDocument chunk = JsonDocument.Parse(item.Data);
            if (chunk.RootElement.GetProperty("choices").GetArrayLength() > 0)
            {
                text.Append(chunk.RootElement.GetProperty("choices")[0].GetProperty("text").GetString());
            }
        }
        Assert.That(done, Is.True, "the stream ends with data: [DONE]");
        return text.ToString();
    }

    private static async Task<string> ErrorText(HttpResponseMessage response) =>
        response.IsSuccessStatusCode ? "" : await response.Content.ReadAsStringAsync();
}

using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Rwkv.Onnx.Server.Streaming;

/// <summary>
/// A streamed response as OpenAI sends it: <c>text/event-stream</c>, one <c>data: {json}\n\n</c> event per chunk, flushed at
/// once so each token reaches the client as it is generated, and <c>data: [DONE]\n\n</c> at the end.
/// </summary>
internal sealed class ServerSentEvents(HttpResponse response)
{
    private static readonly byte[] s_data = "data: "u8.ToArray();
    private static readonly byte[] s_end = "\n\n"u8.ToArray();
    private static readonly byte[] s_done = "data: [DONE]\n\n"u8.ToArray();

    /// <summary>Sends status 200 and the headers; after this a failure can only be reported as an event.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        // Reverse proxies (nginx) buffer responses unless told not to.
        response.Headers["X-Accel-Buffering"] = "no";
        response.HttpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        return response.StartAsync(cancellationToken);
    }

    public async Task WriteAsync<T>(T value, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken)
    {
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(value, typeInfo);
        await response.Body.WriteAsync(s_data, cancellationToken).ConfigureAwait(false);
        await response.Body.WriteAsync(json, cancellationToken).ConfigureAwait(false);
        await response.Body.WriteAsync(s_end, cancellationToken).ConfigureAwait(false);
        await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task WriteDoneAsync(CancellationToken cancellationToken)
    {
        await response.Body.WriteAsync(s_done, cancellationToken).ConfigureAwait(false);
        await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}

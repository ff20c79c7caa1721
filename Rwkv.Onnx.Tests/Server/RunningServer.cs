using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Rwkv.Onnx.Server;
using Rwkv.Onnx.Serving;

namespace Rwkv.Onnx.Tests.Server;

/// <summary>
/// An <see cref="RwkvServer"/> on Kestrel over loopback, on a free port, over its own engine on the shared test model:
/// real sockets, so streaming and disconnects behave as with any client.
/// </summary>
internal sealed class RunningServer : IAsyncDisposable
{
    private RunningServer(RwkvEngine engine, RwkvServer server)
    {
        Engine = engine;
        Server = server;
        BaseAddress = server.Addresses[0];
        Http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
    }

    public RwkvEngine Engine { get; }

    public RwkvServer Server { get; }

    public Uri BaseAddress { get; }

    /// <summary>The OpenAI SDK's endpoint: the base address with <c>/v1</c>.</summary>
    public Uri OpenAIEndpoint => new(BaseAddress, "/v1");

    public HttpClient Http { get; }

    public static async Task<RunningServer> StartAsync(RwkvEngineOptions? engineOptions = null, Func<RwkvServerOptions, RwkvServerOptions>? configure = null)
    {
        var engine = new RwkvEngine(ServerTestModel.Model, ServerTestModel.Tokenizer, engineOptions);
        var options = new RwkvServerOptions { ModelId = ServerTestModel.ModelId, Port = 0 };
        RwkvServer server = RwkvServer.Create(engine, configure?.Invoke(options) ?? options);
        try
        {
            await server.StartAsync();
        }
        catch
        {
            await server.DisposeAsync();
            await engine.DisposeAsync();
            throw;
        }
        return new RunningServer(engine, server);
    }

    /// <summary>POSTs <paramref name="json"/> (raw text, so tests can send malformed bodies) to <paramref name="path"/>.</summary>
    public Task<HttpResponseMessage> PostAsync(string path, string json, string? apiKey = null, CancellationToken cancellationToken = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (apiKey is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }
        return Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
    }

    /// <summary>The OpenAI error object of a response: (status, type, param, code, message).</summary>
    public static async Task<(int Status, string? Type, string? Param, string? Code, string Message)> ReadErrorAsync(HttpResponseMessage response)
    {
        using JsonDocument body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        JsonElement error = body.RootElement.GetProperty("error");
        return ((int)response.StatusCode, error.GetProperty("type").GetString(), error.GetProperty("param").GetString(),
            error.GetProperty("code").GetString(), error.GetProperty("message").GetString()!);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        await Engine.DisposeAsync();
    }
}

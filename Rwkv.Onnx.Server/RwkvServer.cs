using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Rwkv.Onnx.Server.Endpoints;
using Rwkv.Onnx.Server.Errors;
using Rwkv.Onnx.Server.Hosting;
using Rwkv.Onnx.Server.Metrics;
using Rwkv.Onnx.Server.Requests;
using Rwkv.Onnx.Serving;

namespace Rwkv.Onnx.Server;

/// <summary>
/// An OpenAI-compatible HTTP server (ASP.NET Core on Kestrel) over an <see cref="RwkvEngine"/>: <c>GET /v1/models</c>,
/// <c>POST /v1/completions</c>, <c>POST /v1/chat/completions</c> (JSON or server-sent events), <c>GET /health</c> and
/// <c>GET /metrics</c> (Prometheus). Requests are tokenized here and batched by the engine.
/// </summary>
/// <remarks>
/// The server does not own the engine, but stopping it drains the engine (<see cref="RwkvEngine.DrainAsync"/>): it
/// admits nothing new, lets running requests finish, then returns. Dispose the engine after the server. Thread-safe.
/// </remarks>
public sealed class RwkvServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly RwkvEngine _engine;
    private volatile bool _draining;

    private RwkvServer(WebApplication app, RwkvEngine engine, RwkvServerOptions options)
    {
        _app = app;
        _engine = engine;
        Options = options;
    }

    /// <summary>The options the server was created with.</summary>
    public RwkvServerOptions Options { get; }

    /// <summary>The addresses the server listens on (with the port chosen when <see cref="RwkvServerOptions.Port"/> is 0); empty before <see cref="StartAsync"/>.</summary>
    public IReadOnlyList<Uri> Addresses =>
        _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.Select(address => new Uri(address)).ToList() ?? [];

    /// <summary>Builds a server over <paramref name="engine"/>; nothing listens until <see cref="StartAsync"/>.</summary>
    /// <param name="engine">The engine requests run on; the caller keeps ownership.</param>
    /// <param name="options">Address, API key and limits.</param>
    /// <param name="configureLogging">Where ASP.NET Core logs go (default: nowhere); unexpected request failures are logged as errors.</param>
    public static RwkvServer Create(RwkvEngine engine, RwkvServerOptions options, Action<ILoggingBuilder>? configureLogging = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(options);
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = typeof(RwkvServer).Assembly.GetName().Name });
        builder.Logging.ClearProviders();
        configureLogging?.Invoke(builder.Logging);
        builder.Services.AddSingleton<IHostLifetime, CallerOwnedLifetime>();
        // Running requests get up to their own time limit to finish before the host gives up on them.
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = options.RequestTimeout + TimeSpan.FromSeconds(5));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            kestrel.AddServerHeader = false;
            if (options.Host == "localhost")
            {
                kestrel.ListenLocalhost(options.Port);
            }
            else
            {
                kestrel.Listen(IPAddress.Parse(options.Host), options.Port);
            }
        });

        var served = new ServedModel(engine, options);
        var metrics = new ServerMetrics(engine);
        builder.Services.AddSingleton(metrics);
        builder.Services.AddSingleton(options);
        WebApplication app = builder.Build();
        var server = new RwkvServer(app, engine, options);

        app.UseMiddleware<ErrorMiddleware>();
        app.UseMiddleware<ApiKeyMiddleware>();
        var info = new InfoEndpoints(served, metrics, () => server._draining);
        var completions = new CompletionsEndpoint(served, metrics);
        var chat = new ChatCompletionsEndpoint(served, metrics);
        app.MapGet("/v1/models", info.ModelsAsync);
        app.MapPost("/v1/completions", completions.HandleAsync);
        app.MapPost("/v1/chat/completions", chat.HandleAsync);
        app.MapGet("/health", info.HealthAsync);
        app.MapGet("/metrics", info.MetricsAsync);
        app.MapFallback(context => throw ApiErrors.UnknownPath(context.Request.Method, context.Request.Path));
        return server;
    }

    /// <summary>Starts listening.</summary>
    /// <exception cref="IOException">The address is in use or cannot be bound.</exception>
    public Task StartAsync(CancellationToken cancellationToken = default) => _app.StartAsync(cancellationToken);

    /// <summary>
    /// Drains: <c>/health</c> turns 503, the engine admits nothing new (new requests get 503), Kestrel stops accepting
    /// connections, and running requests finish (each within its time limit); then returns.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        _draining = true;
        Task drain = _engine.DrainAsync(cancellationToken);
        await _app.StopAsync(cancellationToken).ConfigureAwait(false);
        await drain.ConfigureAwait(false);
    }

    /// <summary>Starts, serves until <paramref name="stoppingToken"/> is cancelled (e.g. by SIGTERM or Ctrl+C), then drains as <see cref="StopAsync"/>.</summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        await StartAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            await Task.Delay(Timeout.Infinite, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Stops listening at once (without draining) and releases the host; the engine stays the caller's.</summary>
    public ValueTask DisposeAsync() => _app.DisposeAsync();
}

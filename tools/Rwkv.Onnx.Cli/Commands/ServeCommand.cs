using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Rwkv.Onnx.Server;
using Rwkv.Onnx.Serving;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// <c>rwkv-onnx serve &lt;dir&gt; [--host 127.0.0.1] [--port 8000] [--api-key K] [--model-id ID] [--state name=path]...
/// [--max-sequences 16] [--max-queue 64] [--max-prompt-tokens N] [--max-tokens N] [--max-body-bytes N]
/// [--request-timeout S] [--cache-bytes N]</c>: an OpenAI-compatible HTTP server until SIGTERM or Ctrl+C, which drain it.
/// </summary>
internal static class ServeCommand
{
    /// <summary>The environment variable read for the API key when <c>--api-key</c> is not given.</summary>
    public const string ApiKeyVariable = "RWKV_ONNX_API_KEY";

    public static Command Create()
    {
        var defaults = new RwkvServerOptions { ModelId = "default" };
        var engineDefaults = new RwkvEngineOptions();
        var directory = new Argument<string>("dir") { Description = "An exported model directory." };
        var host = new Option<string>("--host") { Description = "Address to listen on: 127.0.0.1 (loopback, the default), ::1, localhost, or 0.0.0.0 for every interface (set an API key).", DefaultValueFactory = _ => defaults.Host };
        var port = new Option<int>("--port") { Description = "TCP port; 0 picks a free one (printed at start).", DefaultValueFactory = _ => RwkvServerOptions.DefaultPort }
            .InRange(NumericRange.From(0, 65535));
        var apiKey = new Option<string?>("--api-key") { Description = $"Require 'Authorization: Bearer <key>' on every endpoint but /health (default: the {ApiKeyVariable} environment variable, else none)." };
        var modelId = new Option<string?>("--model-id") { Description = "The id clients send as \"model\" (default: the model directory's name)." };
        var states = new NamedStateOption();
        var maxSequences = new Option<int>("--max-sequences") { Description = "Sequences decoded together in one batched step; more wait in the queue.", DefaultValueFactory = _ => engineDefaults.MaxConcurrentSequences }
            .InRange(NumericRange.From(1, 1024));
        var maxQueue = new Option<int>("--max-queue") { Description = "Requests waiting for a sequence slot; beyond, 429 with Retry-After.", DefaultValueFactory = _ => engineDefaults.MaxQueuedRequests }
            .InRange(NumericRange.From(0, 1_000_000));
        var maxPromptTokens = new Option<int>("--max-prompt-tokens") { Description = "Longest prompt in tokens (after chat formatting); beyond, 400.", DefaultValueFactory = _ => defaults.MaxPromptTokens }
            .InRange(NumericRange.AtLeast(1));
        var maxTokens = new Option<int>("--max-tokens") { Description = "Most tokens one request may generate (a chat request without max_tokens gets this many at most).", DefaultValueFactory = _ => defaults.MaxTokens }
            .InRange(NumericRange.AtLeast(1));
        var maxBodyBytes = new Option<long>("--max-body-bytes") { Description = "Largest request body in bytes; beyond, 413.", DefaultValueFactory = _ => defaults.MaxBodyBytes }
            .InRange(NumericRange.AtLeast(1L));
        var requestTimeout = new Option<double>("--request-timeout") { Description = "Seconds one request may take, queueing included; past it the sequence is cancelled (408, or an error event when streaming).", DefaultValueFactory = _ => defaults.RequestTimeout.TotalSeconds }
            .InRange(NumericRange.Above(0d, TimeSpan.MaxValue.TotalSeconds / 2));
        var cacheBytes = new Option<long>("--cache-bytes") { Description = "Bytes of the prefix state cache (prompt prefixes and chat turns reused across requests); 0 disables it.", DefaultValueFactory = _ => engineDefaults.PrefixCacheBytes }
            .InRange(NumericRange.AtLeast(0L));
        var load = new ModelLoadOptions();

        var command = new Command("serve", "Serve the model over an OpenAI-compatible HTTP API (/v1/models, /v1/completions, /v1/chat/completions, /health, /metrics) until SIGTERM or Ctrl+C.")
        {
            directory, host, port, apiKey, modelId, maxSequences, maxQueue, maxPromptTokens, maxTokens, maxBodyBytes, requestTimeout, cacheBytes,
        };
        states.AddTo(command);
        load.AddTo(command);
        command.SetAction(parsed =>
        {
            TextWriter stdout = parsed.InvocationConfiguration.Output;
            TextWriter stderr = parsed.InvocationConfiguration.Error;
            string path = ModelDirectory.Require(parsed.GetRequiredValue(directory));
            string? key = parsed.GetValue(apiKey);
            if (key is not null && string.IsNullOrWhiteSpace(key))
            {
                throw new UsageException("--api-key: the key is empty; give a key, or leave the option out for an open server.");
            }
            key ??= Environment.GetEnvironmentVariable(ApiKeyVariable) is { } fromEnvironment && !string.IsNullOrWhiteSpace(fromEnvironment) ? fromEnvironment : null;
            var serverOptions = new RwkvServerOptions
            {
                ModelId = parsed.GetValue(modelId) ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(path))),
                Host = CheckHost(parsed.GetRequiredValue(host), parsed.GetValue(port)),
                Port = parsed.GetValue(port),
                ApiKey = key,
                MaxPromptTokens = parsed.GetValue(maxPromptTokens),
                MaxTokens = parsed.GetValue(maxTokens),
                MaxBodyBytes = parsed.GetValue(maxBodyBytes),
                RequestTimeout = TimeSpan.FromSeconds(parsed.GetValue(requestTimeout)),
            };
            var engineOptions = new RwkvEngineOptions
            {
                MaxConcurrentSequences = parsed.GetValue(maxSequences),
                MaxQueuedRequests = parsed.GetValue(maxQueue),
                PrefixCacheBytes = parsed.GetValue(cacheBytes),
            };
            IReadOnlyList<(string Name, string Path)> namedStates = states.Check(parsed);

            using RwkvModel model = RwkvModel.Load(path, load.Read(parsed));
            ByteLevelTokenizer tokenizer = RwkvTokenizers.Load(model);
            using var engine = new RwkvEngine(model, tokenizer, engineOptions);
            foreach ((string name, string file) in namedStates)
            {
                using RwkvState state = InitialStateOption.LoadFile(NamedStateOption.Label(name), file, model);
                engine.RegisterState(name, state);
            }
            Serve(engine, serverOptions, stdout, stderr);
            return ExitCodes.Success;
        });
        return command;
    }

    // Runs until SIGINT or SIGTERM, then drains. A second signal is left to the runtime, which ends the process at once.
    private static void Serve(RwkvEngine engine, RwkvServerOptions options, TextWriter stdout, TextWriter stderr)
    {
        using var stop = new CancellationTokenSource();
        void OnSignal(PosixSignalContext context)
        {
            if (!stop.IsCancellationRequested)
            {
                context.Cancel = true;
                stderr.WriteLine($"{context.Signal}: draining: finishing running requests, refusing new ones (signal again to quit at once).");
                stop.Cancel();
            }
        }
        using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using PosixSignalRegistration terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

        // Warnings and failed requests go to stderr; a failure to start (port in use) is the caller's one error line,
        // so the host's own report of it, with its stack trace, is left out.
        RwkvServer server = RwkvServer.Create(engine, options, logging => logging
            .SetMinimumLevel(LogLevel.Warning)
            .AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace)
            .AddSimpleConsole(console => console.SingleLine = true)
            .AddFilter("Microsoft.Extensions.Hosting", LogLevel.None)
            .AddFilter("Microsoft.AspNetCore.Server.Kestrel", LogLevel.Error));
        try
        {
            server.StartAsync().GetAwaiter().GetResult();
            string addresses = string.Join(", ", server.Addresses);
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Serving '{options.ModelId}' on {addresses} (OpenAI API under /v1; {engine.Options.MaxConcurrentSequences} sequences, queue {engine.Options.MaxQueuedRequests}; API key {(options.ApiKey is null ? "off" : "on")}). Ctrl+C to stop."));
            stdout.Flush();
            try
            {
                Task.Delay(Timeout.Infinite, stop.Token).GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
            }
            server.StopAsync().GetAwaiter().GetResult();
            stderr.WriteLine("Stopped.");
        }
        finally
        {
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    // Kestrel cannot pick a free port for "localhost", which means two addresses (IPv4 and IPv6).
    private static string CheckHost(string host, int port)
    {
        try
        {
            _ = new RwkvServerOptions { ModelId = "check", Host = host };
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--host: {Cli.UserMessage(e)}");
        }
        if (host == "localhost" && port == 0)
        {
            throw new UsageException("--port 0 (a free port) needs an IP address for --host, e.g. 127.0.0.1; 'localhost' is two addresses.");
        }
        return host;
    }
}

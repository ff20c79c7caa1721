using System.CommandLine;
using System.Globalization;
using System.Net.Http.Headers;
using Rwkv.Onnx.Cli.Bench.Serve;
using Rwkv.Onnx.Server;
using Rwkv.Onnx.Serving;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// <c>rwkv-onnx bench serve [&lt;dir&gt;] [--url http://host:port] [--streams 1,4,16,64] [--max-tokens 32]
/// [--history-tokens 1000] [--rounds 3] [--markdown out.md]</c>: load-tests the HTTP server, a running one (<c>--url</c>)
/// or one started in-process on the model directory, and prints a Markdown table.
/// </summary>
internal static class ServeBenchCommand
{
    public static Command Create()
    {
        var directory = new Argument<string?>("dir") { Description = "A model directory to serve in-process (leave out with --url).", Arity = ArgumentArity.ZeroOrOne };
        var url = new Option<string?>("--url") { Description = "Drive this running server (e.g. http://127.0.0.1:8000) instead of starting one." };
        var apiKey = new Option<string?>("--api-key") { Description = $"The running server's API key (default: {ServeCommand.ApiKeyVariable})." };
        var modelId = new Option<string?>("--model-id") { Description = "The model id to request (default: the server's first in GET /v1/models)." };
        var streams = new Option<string>("--streams") { Description = "Comma-separated numbers of concurrent streams.", DefaultValueFactory = _ => "1,4,16,64", HelpName = "1,4,16,64" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Output tokens per stream.", DefaultValueFactory = _ => 32 }.InRange(NumericRange.From(1, 100_000));
        var history = new Option<int>("--history-tokens") { Description = "Approximate tokens of the chat history of the prefix-cache workload.", DefaultValueFactory = _ => 1000 }.InRange(NumericRange.From(10, 100_000));
        var rounds = new Option<int>("--rounds") { Description = "Rounds after a warm-up; each runs every level once; results are medians.", DefaultValueFactory = _ => 3 }.InRange(NumericRange.From(1, 100));
        var markdown = new Option<string?>("--markdown") { Description = "Also write the Markdown table to this file." };
        var command = new Command("serve", "Load-test the OpenAI-compatible server: aggregate tokens/s, time to first token and inter-token latency at several concurrencies, and the prefix cache on a chat workload.")
        {
            directory, url, apiKey, modelId, streams, maxTokens, history, rounds, markdown,
        };
        command.SetAction(parsed =>
        {
            string? dir = parsed.GetValue(directory);
            string? target = parsed.GetValue(url);
            if ((dir is null) == (target is null))
            {
                throw new UsageException("bench serve: give either a model directory (served in-process) or --url of a running server, not both.");
            }
            var plan = new ServeBenchPlan(ParseStreams(parsed.GetRequiredValue(streams)), parsed.GetValue(maxTokens), parsed.GetValue(history), parsed.GetValue(rounds));
            TextWriter stdout = parsed.InvocationConfiguration.Output;
            TextWriter stderr = parsed.InvocationConfiguration.Error;
            ServeBenchResult result = target is not null
                ? RunAgainst(new Uri(target), parsed.GetValue(apiKey) ?? Environment.GetEnvironmentVariable(ServeCommand.ApiKeyVariable), parsed.GetValue(modelId), plan, stderr)
                : RunInProcess(ModelDirectory.Require(dir!), plan, stderr);
            string table = result.ToMarkdown();
            stdout.Write(table);
            if (parsed.GetValue(markdown) is { } file)
            {
                File.WriteAllText(file, table);
            }
            return ExitCodes.Success;
        });
        return command;
    }

    private static ServeBenchResult RunInProcess(string directory, ServeBenchPlan plan, TextWriter progress)
    {
        using RwkvModel model = RwkvModel.Load(directory);
        using var engine = new RwkvEngine(model, RwkvTokenizers.Load(model), new RwkvEngineOptions
        {
            MaxConcurrentSequences = plan.Streams.Max(),
            MaxQueuedRequests = plan.Streams.Max(),
        });
        RwkvServer server = RwkvServer.Create(engine, new RwkvServerOptions
        {
            ModelId = "bench",
            Port = 0,
            MaxPromptTokens = Math.Max(plan.HistoryTokens * 2, 8192),
        });
        try
        {
            server.StartAsync().GetAwaiter().GetResult();
            progress.WriteLine($"serving {directory} in-process on {server.Addresses[0]}");
            return RunAgainst(server.Addresses[0], null, "bench", plan, progress);
        }
        finally
        {
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static ServeBenchResult RunAgainst(Uri baseAddress, string? apiKey, string? modelId, ServeBenchPlan plan, TextWriter progress)
    {
        using var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromHours(1) };
        if (!string.IsNullOrWhiteSpace(apiKey))
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }
        try
        {
            modelId ??= FirstModel(http);
            return new ServeBenchRunner(new ServeClient(http, modelId), plan, progress).RunAsync(CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (HttpRequestException e)
        {
            throw new IOException($"bench serve: the server at {baseAddress} failed: {e.Message}", e);
        }
    }

    private static string FirstModel(HttpClient http)
    {
        using var models = System.Text.Json.JsonDocument.Parse(http.GetStringAsync("/v1/models").GetAwaiter().GetResult());
        return models.RootElement.GetProperty("data")[0].GetProperty("id").GetString()
            ?? throw new InvalidDataException("GET /v1/models returned a model without an id.");
    }

    private static int[] ParseStreams(string text)
    {
        var values = new List<int>();
        foreach (string part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < 1 || value > 1024)
            {
                throw new UsageException($"--streams: '{part}' is not a number of streams from 1 to 1024; expected e.g. 1,4,16,64.");
            }
            values.Add(value);
        }
        return [.. values.Distinct()];
    }
}

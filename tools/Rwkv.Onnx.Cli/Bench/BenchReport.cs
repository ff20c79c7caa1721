using System.Text.Json;
using System.Text.Json.Serialization;

namespace Rwkv.Onnx.Cli.Bench;

/// <summary>
/// The JSON document <c>rwkv-onnx bench --json</c> writes (schema <see cref="SchemaId"/>, documented in BENCHMARKS.md):
/// the model, the machine, the settings, and one <see cref="BenchResult"/> per configuration (provider × batch).
/// </summary>
internal sealed record BenchReport
{
    /// <summary>The schema identifier; a change that renames or removes a field bumps its number.</summary>
    public const string SchemaId = "rwkv-onnx-bench/1";

    private static readonly JsonSerializerOptions s_options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public string Schema { get; init; } = SchemaId;

    public required DateTime CreatedUtc { get; init; }

    public required BenchModel Model { get; init; }

    public required BenchMachine Machine { get; init; }

    public required BenchSettings Settings { get; init; }

    public required IReadOnlyList<BenchResult> Results { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, s_options);

    /// <summary>Reads a report written by <see cref="ToJson"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a bench report of this schema.</exception>
    public static BenchReport Load(string path)
    {
        BenchReport? report;
        try
        {
            string json = File.ReadAllText(path);
            using (JsonDocument document = JsonDocument.Parse(json))
            {
                string? schema = document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("schema", out JsonElement value)
                    ? value.ToString()
                    : null;
                if (schema != SchemaId)
                {
                    throw new InvalidDataException($"'{path}' has schema '{schema}'; expected a bench report of schema '{SchemaId}'.");
                }
            }
            report = JsonSerializer.Deserialize<BenchReport>(json, s_options);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not a bench report of schema '{SchemaId}': {e.Message}", e);
        }
        if (report is null)
        {
            throw new InvalidDataException($"'{path}' holds null; expected a bench report of schema '{SchemaId}'.");
        }
        return report;
    }
}

/// <summary>The benchmarked model, from its manifest and step graph.</summary>
internal sealed record BenchModel(
    string Name, string Version, int Layers, int Embedding, int Vocab, long Parameters, string WeightDtype,
    long StepWeightBytes, long PrefillFlopsPerToken);

/// <summary>
/// The machine and software the figures were measured on. <see cref="LastLevelCacheBytes"/> is null where unknown and
/// in reports written before it existed.
/// </summary>
internal sealed record BenchMachine(
    string CpuModel, int LogicalCores, string Os, string DotnetVersion, string OrtVersion, long BandwidthBytesPerS, long BandwidthBufferBytes,
    long? LastLevelCacheBytes = null);

/// <summary>What was run: token counts, repeats, warm-up.</summary>
internal sealed record BenchSettings(int PrefillTokens, int DecodeTokens, int Repeat, int Warmup, int PrefillChunk);

/// <summary>Per-token decode latency percentiles in milliseconds (one step for the whole batch).</summary>
internal sealed record LatencyPercentiles(double P50, double P90, double P99);

/// <summary>The figures of one configuration; throughputs are medians over the repeats.</summary>
internal sealed record BenchResult
{
    public required string Provider { get; init; }

    public required string Dtype { get; init; }

    public required int Batch { get; init; }

    public required int Threads { get; init; }

    public required double LoadMs { get; init; }

    /// <summary>Prompt tokens per second summed over the batch.</summary>
    public required double PrefillTokensPerS { get; init; }

    public required double PrefillTokensPerSPerSequence { get; init; }

    /// <summary>Generated tokens per second summed over the batch.</summary>
    public required double DecodeTokensPerS { get; init; }

    public required double DecodeTokensPerSPerSequence { get; init; }

    /// <summary>Time from the prompt to the first token's logits (the prefill of the whole prompt).</summary>
    public required double TtftMs { get; init; }

    public required LatencyPercentiles LatencyMs { get; init; }

    public required long PeakRssBytes { get; init; }

    /// <summary>Private (anonymous resident) memory after the runs; absent in reports written before it existed.</summary>
    public long? PrivateBytes { get; init; }

    public required double BandwidthBytesPerS { get; init; }

    /// <summary>(step weight bytes / bandwidth) / measured mean time per decode step.</summary>
    public required double DecodeRooflineFraction { get; init; }

    public required double PrefillGflops { get; init; }
}

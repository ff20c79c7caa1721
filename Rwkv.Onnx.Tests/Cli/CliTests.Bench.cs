using System.Text;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Rwkv.Onnx.Cli;
using Rwkv.Onnx.Cli.Bench;

namespace Rwkv.Onnx.Tests.Cli;

public sealed partial class CliTests
{
    // Every number the issue asks for, per configuration; none may be zero, negative or non-finite.
    private static readonly string[] s_resultNumbers =
    [
        "batch", "threads", "load_ms", "prefill_tokens_per_s", "prefill_tokens_per_s_per_sequence", "decode_tokens_per_s",
        "decode_tokens_per_s_per_sequence", "ttft_ms", "peak_rss_bytes", "private_bytes", "bandwidth_bytes_per_s", "decode_roofline_fraction", "prefill_gflops",
    ];

    private string[] BenchArgs(params string[] extra) =>
        ["bench", _model, "--prefill", "16", "--decode", "8", "--repeat", "1", "--bandwidth-buffer-mib", "64", .. extra];

    [Test]
    public void Bench_TinyModel_WritesJsonMarkdownAndPng()
    {
        string json = Path.Combine(_work, "bench.json"), markdown = Path.Combine(_work, "bench.md"), chart = Path.Combine(_work, "bench.png");

        CliRun run = Run(BenchArgs("--json", json, "--markdown", markdown, "--chart", chart));

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Success), run.Stderr);
        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement root = document.RootElement;
        Assert.That(root.GetProperty("schema").GetString(), Is.EqualTo("rwkv-onnx-bench/1"));
        JsonElement machine = root.GetProperty("machine");
        Assert.That(machine.GetProperty("cpu_model").GetString(), Is.Not.Empty);
        Assert.That(machine.GetProperty("logical_cores").GetInt32(), Is.EqualTo(Environment.ProcessorCount));
        Assert.That(machine.GetProperty("ort_version").GetString(), Is.EqualTo(OrtEnv.Instance().GetVersionString()));
        Assert.That(machine.GetProperty("os").GetString(), Is.Not.Empty);
        long? cache = MachineProbe.LastLevelCacheBytes(MachineProbe.CpuCacheDirectory);
        Assert.That(machine.GetProperty("last_level_cache_bytes").ValueKind, Is.EqualTo(cache is null ? JsonValueKind.Null : JsonValueKind.Number));
        // The tiny 7v0 model: 12 layers × (4·64² + 2·64·256 + LoRAs) plus the 64 × 256 head, all fp32; the 256 × 64 embedding is
        // gathered. At most every other parameter, plus a few int64 shape constants.
        Assert.That(root.GetProperty("model").GetProperty("step_weight_bytes").GetInt64(), Is.InRange(4L * (12 * (4 * 64 * 64 + 2 * 64 * 256) + 64 * 256), 4L * 829_888 - 4 * 256 * 64 + 1024));
        JsonElement result = root.GetProperty("results").EnumerateArray().Single();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(result.GetProperty("provider").GetString(), Is.EqualTo("cpu"));
            Assert.That(result.GetProperty("dtype").GetString(), Is.EqualTo("fp32"));
            foreach (string name in s_resultNumbers)
            {
                double value = result.GetProperty(name).GetDouble();
                Assert.That(double.IsFinite(value) && value > 0, Is.True, $"{name} = {value}");
            }
            JsonElement latency = result.GetProperty("latency_ms");
            double p50 = latency.GetProperty("p50").GetDouble(), p90 = latency.GetProperty("p90").GetDouble(), p99 = latency.GetProperty("p99").GetDouble();
            Assert.That(p50, Is.GreaterThan(0));
            Assert.That(p90, Is.GreaterThanOrEqualTo(p50));
            Assert.That(p99, Is.GreaterThanOrEqualTo(p90));
            Assert.That(result.GetProperty("decode_tokens_per_s").GetDouble(), Is.EqualTo(result.GetProperty("decode_tokens_per_s_per_sequence").GetDouble()));
        }
        Assert.That(File.ReadAllText(markdown), Does.StartWith("| model |").And.Contain("| cpu | fp32 | 1 |"));
        Assert.That(run.Stdout, Is.EqualTo(File.ReadAllText(markdown)));
        Assert.That(File.ReadAllBytes(chart).Take(8), Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }));
        Assert.That(run.Stderr, Does.Contain("cpu batch 1: repeat 1/1").And.Contain("bench: memory bandwidth"));
    }

    [Test]
    public void Bench_BatchOfTwo_AggregateIsTwicePerSequence_AndSvgChart()
    {
        string json = Path.Combine(_work, "bench.json"), chart = Path.Combine(_work, "bench.svg");

        CliRun run = Run(BenchArgs("--batch", "2", "--json", json, "--chart", chart));

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Success), run.Stderr);
        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement result = document.RootElement.GetProperty("results").EnumerateArray().Single();
        Assert.That(result.GetProperty("batch").GetInt32(), Is.EqualTo(2));
        Assert.That(result.GetProperty("decode_tokens_per_s").GetDouble(),
            Is.EqualTo(2 * result.GetProperty("decode_tokens_per_s_per_sequence").GetDouble()).Within(1e-9).Percent);
        string svg = File.ReadAllText(chart);
        Assert.That(svg.TrimStart(), Does.StartWith("<svg").Or.StartWith("<?xml"));
        Assert.That(svg, Does.Contain("<svg").And.Contain("</svg>"));
    }

    [Test]
    public void BenchCompare_TwoReports_OneRowPerConfiguration()
    {
        string first = Path.Combine(_work, "a.json"), second = Path.Combine(_work, "b.json");
        string markdown = Path.Combine(_work, "compare.md"), chart = Path.Combine(_work, "compare.png");
        Assert.That(Run(BenchArgs("--json", first)).ExitCode, Is.EqualTo(ExitCodes.Success));
        Assert.That(Run(BenchArgs("--batch", "2", "--threads", "1", "--json", second)).ExitCode, Is.EqualTo(ExitCodes.Success));

        CliRun run = Run("bench", "compare", first, second, "--markdown", markdown, "--chart", chart);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Success), run.Stderr);
        string[] rows = [.. File.ReadAllLines(markdown).Where(line => line.StartsWith('|'))];
        Assert.That(rows, Has.Length.EqualTo(4)); // header, rule, two configurations
        Assert.That(rows[2], Does.Contain("| cpu | fp32 | 1 |"));
        Assert.That(rows[3], Does.Contain("| cpu | fp32 | 2 | 1 |"));
        Assert.That(File.ReadAllBytes(chart).Take(4), Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47 }));
    }

    [Test]
    public void BenchCompare_ReportWithoutPrivateBytes_StillReads()
    {
        // Reports written before private_bytes and last_level_cache_bytes existed must still merge; the column shows a dash.
        string report = Path.Combine(_work, "old.json"), markdown = Path.Combine(_work, "old.md");
        Assert.That(Run(BenchArgs("--json", report)).ExitCode, Is.EqualTo(ExitCodes.Success));
        var root = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(report))!;
        root["results"]![0]!.AsObject().Remove("private_bytes");
        root["machine"]!.AsObject().Remove("last_level_cache_bytes");
        File.WriteAllText(report, root.ToJsonString());

        CliRun run = Run("bench", "compare", report, "--markdown", markdown);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Success), run.Stderr);
        Assert.That(File.ReadAllLines(markdown)[2], Does.Contain("| — |"));
        Assert.That(File.ReadAllText(markdown), Does.Not.Contain("Note:"));
    }

    [Test]
    public void BenchCompare_NotAReport_FailsNamingTheFile()
    {
        string path = Path.Combine(_work, "other.json");
        File.WriteAllText(path, "{\"schema\": \"something-else\"}", Encoding.UTF8);

        CliRun run = Run("bench", "compare", path);

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Failure));
        Assert.That(run.Stderr, Does.Contain(path).And.Contain("rwkv-onnx-bench/1"));
    }

    [Test]
    public void Bench_ProviderMissingFromNativeRuntime_FailsWithTheRuntimeMessage()
    {
        Assume.That(OrtEnv.Instance().GetAvailableProviders(), Does.Not.Contain("CUDAExecutionProvider"));

        CliRun run = Run(BenchArgs("--providers", "cuda"));

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Failure));
        Assert.That(run.Stderr, Does.Contain("CUDAExecutionProvider").And.Contain("Microsoft.ML.OnnxRuntime.Gpu"));
    }
}

using System.Globalization;
using System.Text;

namespace Rwkv.Onnx.Cli.Bench;

/// <summary>Renders bench reports (one run, or several merged by <c>bench compare</c>) as a Markdown table; <see cref="BenchChart"/> draws them.</summary>
internal static class BenchTables
{
    private static readonly CultureInfo s_invariant = CultureInfo.InvariantCulture;

    /// <summary>
    /// One table row per configuration of every report, labelled by model and machine; then a note for each model whose
    /// step weights fit its machine's last-level cache, where the roofline's memory-bandwidth limit does not apply.
    /// </summary>
    public static string Markdown(IReadOnlyList<BenchReport> reports)
    {
        var text = new StringBuilder();
        text.AppendLine("| model | machine | provider | dtype | batch | threads | prefill tok/s | decode tok/s (per seq) | TTFT ms | latency ms p50 / p90 / p99 | peak RSS MiB | private MiB | bandwidth GB/s | decode roofline | prefill GFLOP/s | load ms |");
        text.AppendLine("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (BenchReport report in reports)
        {
            foreach (BenchResult r in report.Results)
            {
                text.AppendLine(string.Create(s_invariant,
                    $"| {ModelLabel(report)} | {report.Machine.CpuModel} ({report.Machine.LogicalCores} cores) | {r.Provider} | {r.Dtype} | {r.Batch} | {r.Threads} | {r.PrefillTokensPerS:F1} | {r.DecodeTokensPerS:F1} ({r.DecodeTokensPerSPerSequence:F1}) | {r.TtftMs:F1} | {r.LatencyMs.P50:F2} / {r.LatencyMs.P90:F2} / {r.LatencyMs.P99:F2} | {r.PeakRssBytes / (1024.0 * 1024):F0} | {(r.PrivateBytes is long p ? (p / (1024.0 * 1024)).ToString("F0", s_invariant) : "—")} | {r.BandwidthBytesPerS / 1e9:F2} | {r.DecodeRooflineFraction:P1} | {r.PrefillGflops:F2} | {r.LoadMs:F0} |"));
            }
        }
        // One note per model and machine whose step weights fit the last-level cache (compare may merge several runs of one).
        foreach (string note in reports.Select(CacheNote).OfType<string>().Distinct(StringComparer.Ordinal))
        {
            text.AppendLine();
            text.AppendLine(note);
        }
        return text.ToString();
    }

    private static string? CacheNote(BenchReport report) =>
        report.Machine.LastLevelCacheBytes is long cache && report.Model.StepWeightBytes <= cache
            ? string.Create(s_invariant,
                $"Note: {ModelLabel(report)} reads {report.Model.StepWeightBytes / 1e6:F1} MB of weights per step, which fits the {cache / (1024.0 * 1024):F0} MiB last-level cache of {report.Machine.CpuModel}: its decode need not be bound by DRAM bandwidth, and its decode roofline can exceed 100 %.")
            : null;

    /// <summary>The model's name and shape, e.g. <c>r7 (RWKV-7 L12 D768)</c>.</summary>
    public static string ModelLabel(BenchReport report) =>
        string.Create(s_invariant, $"{report.Model.Name} (RWKV-{report.Model.Version} L{report.Model.Layers} D{report.Model.Embedding})");
}

using System.Globalization;
using System.Text;

namespace Rwkv.Onnx.Cli.Quantization;

/// <summary>What <c>quant-frontier</c> measured, with its conditions.</summary>
/// <param name="Checkpoint">The checkpoint file name.</param>
/// <param name="Tokens">Positions compared.</param>
/// <param name="TokenSource">"seeded random (seed 0)" or the text file's name.</param>
/// <param name="Batch">Sequences per decode step in the speed rounds.</param>
/// <param name="Threads">Intra-op threads of the speed rounds (0: ONNX Runtime's choice).</param>
/// <param name="SpeedRounds">Interleaved speed rounds (0: none).</param>
/// <param name="DecodeTokens">Timed decode steps per entry and round.</param>
/// <param name="LoadAverage">/proc/loadavg before and after the speed rounds, where available.</param>
/// <param name="Rows">One row per entry, fp32 first.</param>
internal sealed record FrontierReport(
    string Checkpoint, int Tokens, string TokenSource, int Batch, int Threads, int SpeedRounds, int DecodeTokens, string? LoadAverage,
    IReadOnlyList<FrontierRow> Rows)
{
    /// <summary>The table as Markdown, with a line of conditions above it.</summary>
    public string ToMarkdown()
    {
        var c = CultureInfo.InvariantCulture;
        var s = new StringBuilder();
        string conditions = SpeedRounds > 0
            ? string.Create(c, $" Decode: batch {Batch}, {Threads} threads, {DecodeTokens} steps, medians of {SpeedRounds} interleaved rounds; load {LoadAverage}.")
            : "";
        s.AppendLine(string.Create(c, $"{Checkpoint}: {Tokens} tokens ({TokenSource}), logits against the fp32 export.{conditions}"));
        s.AppendLine();
        bool speed = SpeedRounds > 0;
        s.AppendLine("| export | last-position mean \\|Δ\\| | last-position max \\|Δ\\| | mean \\|Δ\\| (all) | max \\|Δ\\| (all) | top-1 | step vs prefill max \\|Δ\\| | weights |"
            + (speed ? " decode tok/s | vs fp32 |" : ""));
        s.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + (speed ? " ---: | ---: |" : ""));
        foreach (FrontierRow r in Rows)
        {
            s.Append(string.Create(c, $"| {r.Label} | {r.LastMeanAbs:G3} | {r.LastMaxAbs:G3} | {r.MeanAbs:G3} | {r.MaxAbs:G3} | {r.Top1 * 100:F1} % | {r.StepVsPrefillMaxAbs:G3} | {r.WeightsBytes / 1048576.0:F1} MiB |"));
            if (speed)
            {
                s.Append(string.Create(c, $" {r.DecodeTokensPerS:F1} | {r.DecodeVsFp32:F2}× |"));
            }
            s.AppendLine();
        }
        return s.ToString();
    }
}

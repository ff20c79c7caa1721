using ScottPlot;

namespace Rwkv.Onnx.Cli.Quantization;

/// <summary>
/// The <c>--chart</c> of <c>quant-frontier</c>: one labelled point per export, mean |Δlogit| at the last position (log
/// scale) against decode speed relative to fp32 when measured, else against the weights file's size; ggml references
/// in orange, our layouts in blue, so the frontier is the lower edge.
/// </summary>
internal static class FrontierChart
{
    /// <summary>The chart as PNG bytes.</summary>
    public static byte[] Render(FrontierReport report)
    {
        var plot = new Plot();
        bool speed = report.SpeedRounds > 0;
        foreach (FrontierRow row in report.Rows.Where(r => r.LastMeanAbs > 0))
        {
            double x = speed ? row.DecodeVsFp32 ?? 0 : row.WeightsBytes / 1048576.0;
            double y = Math.Log10(row.LastMeanAbs);
            bool reference = row.Label is "q8_0" or "q4_0" or "q5_1" or "q8_0-weights" or "q4_0-weights" or "q5_1-weights" or "fp16";
            var marker = plot.Add.Marker(x, y);
            marker.Color = reference ? Colors.DarkOrange : Colors.SteelBlue;
            marker.Size = 8;
            var label = plot.Add.Text(Short(row.Label), x, y);
            label.LabelFontSize = 10;
            label.LabelFontColor = marker.Color;
        }
        plot.Axes.Left.Label.Text = "mean |Δlogit|, last position (log10)";
        plot.Axes.Bottom.Label.Text = speed ? $"decode speed vs fp32 (batch {report.Batch})" : "weights file (MiB)";
        plot.Title($"quant-frontier: {report.Checkpoint}, {report.Tokens} tokens");
        using Image image = plot.GetImage(1100, 700);
        return image.GetImageBytes(ImageFormat.Png, 100);
    }

    // "int4:block=32,rounding=zero-point-search,head=fp32,int8-roles=none,compute=int8" -> "int4 b32 zps hfp32".
    private static string Short(string label)
    {
        if (!label.Contains(':', StringComparison.Ordinal))
        {
            return label;
        }
        string[] parts = label.Split(':', 2);
        var words = new List<string> { parts[0] };
        foreach (string kv in parts[1].Split(','))
        {
            string[] p = kv.Split('=', 2);
            words.Add((p[0], p[1]) switch
            {
                ("block", var b) => $"b{b}",
                ("rounding", "absmax") => "",
                ("rounding", "search") => "s",
                ("rounding", "zero-point") => "zp",
                ("rounding", "zero-point-search") => "zps",
                ("head", var h) => $"h{h}",
                ("int8-roles", "none") => "",
                ("int8-roles", var r) => $"8:{r}",
                ("compute", "int8") => "",
                ("compute", var c) => $"c{c}",
                _ => kv,
            });
        }
        return string.Join(' ', words.Where(w => w.Length > 0));
    }
}

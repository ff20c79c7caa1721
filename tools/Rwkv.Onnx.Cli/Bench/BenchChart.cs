using System.Globalization;
using ScottPlot;
using SkiaSharp;

namespace Rwkv.Onnx.Cli.Bench;

/// <summary>
/// The <c>--chart</c> of <c>bench</c> and <c>bench compare</c>: two panels stacked, decode tokens/s above and prefill
/// tokens/s below, each with its own axis from zero and one bar per configuration labelled with its value, so bars are
/// compared only against bars of the same metric. The title names the models, machines and dates; a configuration's
/// label shows only what differs between configurations (always the batch).
/// </summary>
internal static class BenchChart
{
    /// <summary>Height in pixels of the decode panel's plot area (the prefill panel's is larger by the title's height).</summary>
    public const int PlotAreaHeight = 260;

    /// <summary>Horizontal pixels per configuration, enough for labels of about 24 characters per line.</summary>
    public const int PixelsPerConfiguration = 190;

    /// <summary>The narrowest chart.</summary>
    public const int MinimumWidth = 760;

    /// <summary>Characters per line of a configuration's label; about 7 pixels each at the tick labels' size.</summary>
    public const int LabelCharacters = 24;

    /// <summary>Characters per line of the title, which fits the narrowest chart (about 9 pixels each).</summary>
    public const int TitleCharacters = 80;

    private static readonly CultureInfo s_invariant = CultureInfo.InvariantCulture;

    /// <summary>The two panels (subplot 0 decode, subplot 1 prefill) and the size to draw them at.</summary>
    public sealed record Chart(Multiplot Multiplot, int Width, int Height);

    /// <summary>
    /// Builds the two panels. The width grows with the number of configurations, the height with the lines of the title
    /// and of the labels, so that the decode panel's plot area is at least <see cref="PlotAreaHeight"/> pixels high.
    /// </summary>
    public static Chart Create(IReadOnlyList<BenchReport> reports)
    {
        var rows = reports.SelectMany(report => report.Results.Select(result => (Report: report, Result: result))).ToList();
        string[] labels = Labels(rows);
        string title = Title(reports);
        int titleHeight = 24 + 20 * LineCount(title);
        int labelHeight = 16 + 16 * labels.Max(LineCount);
        var decode = new Plot();
        var multiplot = new Multiplot(decode) { Layout = new ScottPlot.MultiplotLayouts.Rows() };
        Plot prefill = multiplot.AddPlot();
        Panel(decode, [.. rows.Select(r => r.Result.DecodeTokensPerS)], labels, Colors.SteelBlue, "decode tok/s (batch)", top: titleHeight, bottom: labelHeight);
        Panel(prefill, [.. rows.Select(r => r.Result.PrefillTokensPerS)], labels, Colors.DarkOrange, "prefill tok/s (batch)", top: 24, bottom: labelHeight);
        decode.Title(title, size: 15);
        // Rows gives each panel half the height; the decode half holds the title too.
        return new Chart(multiplot, Width(rows.Count), 2 * (titleHeight + PlotAreaHeight + labelHeight));
    }

    /// <summary>The chart as PNG or SVG bytes.</summary>
    public static byte[] Render(IReadOnlyList<BenchReport> reports, bool svg)
    {
        (Multiplot multiplot, int width, int height) = Create(reports);
        if (!svg)
        {
            using Image image = multiplot.Render(width, height);
            return image.GetImageBytes(ImageFormat.Png, 100);
        }
        using var stream = new MemoryStream();
        using (var skiaStream = new SKManagedWStream(stream))
        using (SKCanvas canvas = SKSvgCanvas.Create(new SKRect(0, 0, width, height), skiaStream))
        {
            multiplot.Render(canvas, new PixelRect(0, width, height, 0));
        }
        return stream.ToArray();
    }

    /// <summary>The chart's width for <paramref name="configurations"/> bars per panel.</summary>
    public static int Width(int configurations) => Math.Max(MinimumWidth, PixelsPerConfiguration * configurations + 120);

    /// <summary>
    /// <c>rwkv-onnx bench: {models} on {machines}, {dates}</c>, each list the distinct values of the reports (UTC dates of
    /// their runs, as a range when they differ).
    /// </summary>
    public static string Title(IReadOnlyList<BenchReport> reports)
    {
        string models = List(reports.Select(BenchTables.ModelLabel));
        string machines = List(reports.Select(MachineLabel));
        DateTime first = reports.Min(r => r.CreatedUtc), last = reports.Max(r => r.CreatedUtc);
        string dates = first.Date == last.Date
            ? first.ToString("yyyy-MM-dd", s_invariant)
            : $"{first.ToString("yyyy-MM-dd", s_invariant)} to {last.ToString("yyyy-MM-dd", s_invariant)}";
        return $"{Wrap($"rwkv-onnx bench: {models}", TitleCharacters)}\n{Wrap($"on {machines}, {dates} (UTC)", TitleCharacters)}";
    }

    // Fixed padding, so both panels' axes line up whatever their tick labels' widths: room above for the title (or a gap),
    // below for the configuration labels.
    private static void Panel(Plot plot, double[] values, string[] labels, Color color, string axisLabel, int top, int bottom)
    {
        var bars = new List<Bar>();
        for (int i = 0; i < values.Length; i++)
        {
            bars.Add(new Bar { Position = i, Value = values[i], Size = 0.6, FillColor = color, Label = FormatValue(values[i]) });
        }
        var plottable = plot.Add.Bars(bars);
        plottable.ValueLabelStyle.FontSize = 13;
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual([.. labels.Select((label, i) => new Tick(i, label))]);
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        plot.Axes.Left.Label.Text = axisLabel;
        plot.Axes.Left.Label.FontSize = 14;
        plot.Layout.Fixed(new PixelPadding(left: 80, right: 20, bottom: bottom, top: top));
        plot.Axes.Margins(bottom: 0, top: 0.2); // bars from zero; room above the tallest bar for its value
        plot.HideGrid();
    }

    // The fields that differ between configurations, one per line; the batch always, so a lone bar says what it ran.
    private static string[] Labels(List<(BenchReport Report, BenchResult Result)> rows)
    {
        Func<(BenchReport Report, BenchResult Result), string>[] fields =
        [
            r => BenchTables.ModelLabel(r.Report),
            r => MachineLabel(r.Report),
            r => string.Create(s_invariant, $"{r.Result.Provider} {r.Result.Dtype}"),
            r => string.Create(s_invariant, $"{r.Result.Threads} threads"),
            r => string.Create(s_invariant, $"prefill {r.Report.Settings.PrefillTokens}, decode {r.Report.Settings.DecodeTokens}"),
        ];
        // A lone configuration shows its provider, dtype and threads (the title already names the model and machine).
        var varying = rows.Count == 1
            ? [fields[2], fields[3]]
            : fields.Where(field => rows.Select(field).Distinct(StringComparer.Ordinal).Count() > 1).ToList();
        return [.. rows.Select(row => string.Join('\n', varying.Select(field => Wrap(field(row), LabelCharacters)).Append(string.Create(s_invariant, $"batch {row.Result.Batch}"))))];
    }

    /// <summary>
    /// <paramref name="text"/> broken into lines of at most <paramref name="width"/> characters, at spaces where it can
    /// (a longer word is cut), so labels of long CPU or directory names stay within their bar's slot.
    /// </summary>
    internal static string Wrap(string text, int width)
    {
        var lines = new List<string>();
        string line = "";
        foreach (string word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            string rest = word;
            while (rest.Length > width)
            {
                if (line.Length > 0)
                {
                    lines.Add(line);
                    line = "";
                }
                lines.Add(rest[..width]);
                rest = rest[width..];
            }
            if (line.Length > 0 && line.Length + 1 + rest.Length > width)
            {
                lines.Add(line);
                line = "";
            }
            line = line.Length == 0 ? rest : line + " " + rest;
        }
        if (line.Length > 0)
        {
            lines.Add(line);
        }
        return string.Join('\n', lines);
    }

    private static int LineCount(string text) => text.Count(c => c == '\n') + 1;

    private static string MachineLabel(BenchReport report) =>
        string.Create(s_invariant, $"{report.Machine.CpuModel} ({report.Machine.LogicalCores} cores)");

    // Up to three distinct values in order of appearance, then a count of the rest.
    private static string List(IEnumerable<string> values)
    {
        string[] distinct = [.. values.Distinct(StringComparer.Ordinal)];
        return distinct.Length <= 3
            ? string.Join(", ", distinct)
            : $"{string.Join(", ", distinct[..3])} and {distinct.Length - 3} more";
    }

    private static string FormatValue(double value) =>
        value.ToString(value >= 100 ? "F0" : "F1", s_invariant);
}

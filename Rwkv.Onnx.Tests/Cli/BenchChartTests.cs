using System.Buffers.Binary;
using System.Text;
using Rwkv.Onnx.Cli.Bench;
using ScottPlot;
using ScottPlot.Plottables;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>
/// The bench chart (issue 16 item 21): decode and prefill in separate panels with their own axes, a title naming the
/// models, machines and dates, and labels that keep to their bar's slot however many configurations there are.
/// </summary>
[TestFixture]
public sealed class BenchChartTests
{
    private static BenchReport Report(string model, string cpu, DateTime created, params (int Batch, string Dtype, double Decode, double Prefill)[] results) => new()
    {
        CreatedUtc = created,
        Model = new BenchModel(model, "7", 12, 768, 65536, 191_034_624, "fp32", 562_806_420, 185_696_512),
        Machine = new BenchMachine(cpu, 8, "Linux", ".NET 10", "1.31.1", 30_000_000_000, 1L << 30, null),
        Settings = new BenchSettings(512, 128, 3, 1, 256),
        Results =
        [
            .. results.Select(r => new BenchResult
            {
                Provider = "cpu", Dtype = r.Dtype, Batch = r.Batch, Threads = 8, LoadMs = 10, PrefillTokensPerS = r.Prefill,
                PrefillTokensPerSPerSequence = r.Prefill / r.Batch, DecodeTokensPerS = r.Decode, DecodeTokensPerSPerSequence = r.Decode / r.Batch,
                TtftMs = 16, LatencyMs = new LatencyPercentiles(2, 2.5, 3), PeakRssBytes = 1L << 27, PrivateBytes = 1L << 26,
                BandwidthBytesPerS = 30_000_000_000, DecodeRooflineFraction = 0.5, PrefillGflops = 100,
            }),
        ],
    };

    private static readonly DateTime s_monday = new(2026, 12, 7, 10, 0, 0, DateTimeKind.Utc);

    // Decode is 20 to 80 times slower than prefill here, as on a CPU: on one axis pair the bars looked alike.
    private static readonly BenchReport[] s_fourConfigurations =
    [
        Report("r7-0.1b", "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", s_monday, (1, "fp32", 23.6, 1013), (4, "fp32", 80.2, 1105)),
        Report("rwkv7-g1a-0.1b-20250728-ctx4096", "AMD Ryzen 9 7950X 16-Core Processor", s_monday.AddDays(2), (1, "int4", 95.1, 2020), (16, "int4", 610, 2400)),
    ];

    // The tick labels as drawn (a tick generator makes its ticks when the chart is rendered).
    private static Tick[] RenderedTicks(BenchChart.Chart chart, int panel)
    {
        chart.Multiplot.Render(chart.Width, chart.Height).Dispose();
        return ((ScottPlot.TickGenerators.NumericManual)chart.Multiplot.GetPlot(panel).Axes.Bottom.TickGenerator).Ticks;
    }

    private static double[] Values(Plot plot) => [.. plot.GetPlottables<BarPlot>().Single().Bars.Select(b => b.Value)];

    [Test]
    public void Create_DecodeAndPrefill_InTwoPanelsWithTheirOwnAxes()
    {
        Multiplot multiplot = BenchChart.Create(s_fourConfigurations).Multiplot;

        Plot[] panels = multiplot.GetPlots();
        Assert.That(panels, Has.Length.EqualTo(2));
        Assert.That(Values(panels[0]), Is.EqualTo(new[] { 23.6, 80.2, 95.1, 610 }), "decode panel");
        Assert.That(Values(panels[1]), Is.EqualTo(new[] { 1013, 1105, 2020, 2400 }), "prefill panel");
        BarPlot decode = panels[0].GetPlottables<BarPlot>().Single(), prefill = panels[1].GetPlottables<BarPlot>().Single();
        Assert.That(decode.Axes.YAxis, Is.SameAs(panels[0].Axes.Left));
        Assert.That(prefill.Axes.YAxis, Is.SameAs(panels[1].Axes.Left));
        Assert.That(decode.Axes.YAxis, Is.Not.SameAs(prefill.Axes.YAxis), "no shared value axis");
        Assert.That(panels.SelectMany(p => p.GetPlottables()), Has.Exactly(2).Items, "one bar series per panel, nothing on a second axis");
        Assert.That(panels[0].Axes.Left.Label.Text, Does.Contain("decode"));
        Assert.That(panels[1].Axes.Left.Label.Text, Does.Contain("prefill"));
    }

    [Test]
    public void Create_BarsStartAtZero()
    {
        BenchChart.Chart chart = BenchChart.Create(s_fourConfigurations);
        chart.Multiplot.Render(chart.Width, chart.Height).Dispose(); // axis limits are set when rendered

        foreach (Plot panel in chart.Multiplot.GetPlots())
        {
            Assert.That(panel.Axes.GetLimits().Bottom, Is.EqualTo(0));
        }
    }

    [Test]
    public void Title_NamesModelsMachinesAndDates()
    {
        string title = BenchChart.Title(s_fourConfigurations).Replace('\n', ' ');

        Assert.That(title, Does.Contain("r7-0.1b (RWKV-7 L12 D768)").And.Contain("rwkv7-g1a-0.1b-20250728-ctx4096"));
        Assert.That(title, Does.Contain("Intel(R) Xeon(R) Platinum 8375C").And.Contain("AMD Ryzen 9 7950X"));
        Assert.That(title, Does.Contain("2026-12-07 to 2026-12-09"));
        Assert.That(BenchChart.Title([s_fourConfigurations[0]]), Does.Contain("2026-12-07 (UTC)"));
        Assert.That(BenchChart.Title(s_fourConfigurations).Split('\n'), Has.All.Length.LessThanOrEqualTo(BenchChart.TitleCharacters));
    }

    [Test]
    public void Create_FourConfigurations_LabelsFitTheirSlotsAndShowWhatDiffers()
    {
        BenchChart.Chart chart = BenchChart.Create(s_fourConfigurations);

        Tick[] ticks = RenderedTicks(chart, 0);
        Assert.That(ticks.Select(t => t.Position), Is.EqualTo(new double[] { 0, 1, 2, 3 }));
        Assert.That(ticks.SelectMany(t => t.Label.Split('\n')), Has.All.Length.LessThanOrEqualTo(BenchChart.LabelCharacters));
        Assert.That(chart.Width, Is.GreaterThanOrEqualTo(4 * BenchChart.PixelsPerConfiguration));
        // Model, machine and dtype differ between the reports, the provider and threads do not.
        Assert.That(ticks[2].Label, Does.Contain("rwkv7-g1a").And.Contain("AMD Ryzen").And.Contain("cpu int4").And.EndWith("batch 1"));
        Assert.That(ticks[0].Label, Does.Not.Contain("threads"));
    }

    [Test]
    public void Create_OneConfiguration_LabelsItsProviderDtypeAndThreads()
    {
        BenchChart.Chart chart = BenchChart.Create([Report("tiny", "Test CPU", s_monday, (1, "fp16", 10, 100))]);

        Tick tick = RenderedTicks(chart, 1).Single();
        Assert.That(tick.Label, Is.EqualTo("cpu fp16\n8 threads\nbatch 1"));
        Assert.That(chart.Width, Is.EqualTo(BenchChart.MinimumWidth));
    }

    [Test]
    public void Render_Png_HasTheChartsSize()
    {
        BenchChart.Chart chart = BenchChart.Create(s_fourConfigurations);

        byte[] png = BenchChart.Render(s_fourConfigurations, svg: false);

        Assert.That(png.Take(8), Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }));
        Assert.That(BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), Is.EqualTo(chart.Width), "IHDR width");
        Assert.That(BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)), Is.EqualTo(chart.Height), "IHDR height");
    }

    [Test]
    public void Render_Svg_HoldsBothPanelsAndTheTitle()
    {
        string svg = Encoding.UTF8.GetString(BenchChart.Render(s_fourConfigurations, svg: true));

        Assert.That(svg, Does.Contain("<svg").And.Contain("</svg>"));
        foreach (string text in new[] { "decode tok/s", "prefill tok/s", "rwkv-onnx bench:", "2026-12-07", "610", "2400" })
        {
            Assert.That(svg, Does.Contain(text));
        }
    }

    [TestCase("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz (8 cores)", 24, "Intel(R) Xeon(R)\nPlatinum 8375C CPU @\n2.90GHz (8 cores)")]
    [TestCase("rwkv7-g1a-0.1b-20250728-ctx4096", 12, "rwkv7-g1a-0.\n1b-20250728-\nctx4096")]
    [TestCase("short", 24, "short")]
    public void Wrap_BreaksAtSpaces_AndCutsLongerWords(string text, int width, string expected) =>
        Assert.That(BenchChart.Wrap(text, width), Is.EqualTo(expected));
}

using System.Globalization;
using System.Text.RegularExpressions;

namespace Rwkv.Onnx.Tests.Server;

/// <summary>
/// A <c>/metrics</c> scrape parsed as Prometheus text exposition 0.0.4: <c># HELP</c> and <c># TYPE</c> lines, then
/// <c>name{label="value",...} number</c> samples. Parsing fails on any line outside that grammar.
/// </summary>
internal sealed partial class MetricSamples
{
    private readonly List<(string Name, Dictionary<string, string> Labels, double Value)> _samples = [];

    public Dictionary<string, string> Types { get; } = [];

    public HashSet<string> Helped { get; } = [];

    public IReadOnlyList<(string Name, Dictionary<string, string> Labels, double Value)> Samples => _samples;

    public static async Task<MetricSamples> ScrapeAsync(RunningServer server, string? apiKey = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        if (apiKey is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", apiKey);
        }
        using HttpResponseMessage response = await server.Http.SendAsync(request);
        Assert.That((int)response.StatusCode, Is.EqualTo(200));
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/plain"));
        return Parse(await response.Content.ReadAsStringAsync());
    }

    public static MetricSamples Parse(string text)
    {
        var parsed = new MetricSamples();
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (HelpLine().Match(line) is { Success: true } help)
            {
                parsed.Helped.Add(help.Groups["name"].Value);
                continue;
            }
            if (TypeLine().Match(line) is { Success: true } type)
            {
                parsed.Types[type.Groups["name"].Value] = type.Groups["type"].Value;
                continue;
            }
            Match sample = SampleLine().Match(line);
            if (!sample.Success)
            {
                throw new FormatException($"Not a Prometheus text line: '{line}'.");
            }
            var labels = new Dictionary<string, string>();
            foreach (Match label in LabelPair().Matches(sample.Groups["labels"].Value))
            {
                labels[label.Groups["key"].Value] = label.Groups["value"].Value;
            }
            parsed._samples.Add((sample.Groups["name"].Value, labels, double.Parse(sample.Groups["value"].Value, NumberStyles.Float, CultureInfo.InvariantCulture)));
        }
        return parsed;
    }

    /// <summary>The one sample of <paramref name="name"/> with these labels (and possibly others), 0 when absent.</summary>
    public double Value(string name, params (string Key, string Value)[] labels) =>
        _samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out string? v) && v == l.Value)).Sum(s => s.Value);

    [GeneratedRegex(@"^# HELP (?<name>[a-zA-Z_:][a-zA-Z0-9_:]*) .+$")]
    private static partial Regex HelpLine();

    [GeneratedRegex(@"^# TYPE (?<name>[a-zA-Z_:][a-zA-Z0-9_:]*) (?<type>counter|gauge|histogram|summary|untyped)$")]
    private static partial Regex TypeLine();

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[^}]*)\})? (?<value>[-+]?([0-9.]+([eE][-+]?[0-9]+)?|Inf|NaN))( [0-9]+)?$")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"(?<key>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<value>(\\.|[^""\\])*)""")]
    private static partial Regex LabelPair();
}

using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>Every default the help shows is a value the parser accepts, for every option of every command, in any culture.</summary>
public sealed partial class CliTests
{
    [Test]
    public void Help_EveryDefaultItShows_IsAcceptedBackAndMeansTheDefault([ValueSource(nameof(s_cultures))] string culture)
    {
        RootCommand root = Rwkv.Onnx.Cli.Cli.CreateRootCommand();
        var checkedDefaults = new List<string>();
        Assert.Multiple(() =>
        {
            foreach (string[] path in AllOptions(root, []).Select(o => o.Path).Where(p => p.Length > 0).DistinctBy(p => string.Join(' ', p)))
            {
                CliRun help = InCulture(culture, () => Run([.. path, "--help"]));
                Assert.That(help.ExitCode, Is.Zero, help.Stderr);
                Command command = path.Aggregate((Command)root, (c, name) => c.Subcommands.Single(s => s.Name == name));
                foreach ((string name, string shown) in HelpDefaults(help.Stdout))
                {
                    Option option = command.Options.Single(o => o.Name == name);
                    string[] args = [.. path, name, shown];
                    ParseResult parsed = InCulture(culture, () => root.Parse(args));
                    // The option's own parse errors; a command's rule (e.g. --penalty-decay needs a penalty) may still refuse the line.
                    Assert.That(parsed.Errors.Where(e => OptionOf(e.SymbolResult) == option).Select(e => e.Message), Is.Empty,
                        $"'{string.Join(' ', args)}' is refused; help shows [default: {shown}]");
                    Assert.That(parsed.GetResult(option)?.GetValueOrDefault<object>(), Is.EqualTo(option.GetDefaultValue()),
                        $"'{string.Join(' ', args)}' is the default");
                    checkedDefaults.Add($"{string.Join(' ', path)} {name} {shown}");
                }
            }
        });
        // Guards against a walk that finds nothing: the export and sampling defaults are among them, by their names.
        Assert.That(checkedDefaults, Has.Count.GreaterThan(40));
        Assert.That(checkedDefaults, Does.Contain("export --dtype fp32").And.Contain("export --quant-compute int8").And.Contain("export --prefill-recurrence chunked")
            .And.Contain("generate --provider cpu").And.Contain("chat --state-location auto").And.Contain("logits --mode auto").And.Contain("generate --top-p 0.85"));
    }

    private static Option? OptionOf(SymbolResult? result) => result switch
    {
        OptionResult o => o.Option,
        ArgumentResult { Parent: OptionResult o } => o.Option,
        _ => null,
    };

    // (option name, default text) for each option row of a help text that shows "[default: ...]". A row starts with two
    // spaces and a dash; wrapped lines of its description are indented further.
    private static IEnumerable<(string Name, string Default)> HelpDefaults(string help)
    {
        var rows = new List<string>();
        foreach (string line in help.Split('\n'))
        {
            if (OptionRowStart().IsMatch(line))
            {
                rows.Add(line);
            }
            else if (rows.Count > 0 && line.StartsWith("   ", StringComparison.Ordinal))
            {
                rows[^1] += " " + line.Trim();
            }
        }
        foreach (string row in rows)
        {
            Match shown = DefaultText().Match(Regex.Replace(row, @"\s+", " "));
            if (shown.Success)
            {
                yield return (LongName().Match(row).Value, shown.Groups[1].Value);
            }
        }
    }

    [GeneratedRegex(@"^  -")]
    private static partial Regex OptionRowStart();

    [GeneratedRegex(@"\[default: ([^\]]*)\]")]
    private static partial Regex DefaultText();

    [GeneratedRegex(@"--[a-z0-9-]+")]
    private static partial Regex LongName();
}

using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Rwkv.Onnx.Cli.Commands;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>Numbers on the command line are read the same in every culture, and refused with the option's range when malformed or out of it.</summary>
public sealed partial class CliTests
{
    private static readonly string[] s_cultures = ["de-DE", "fr-FR", "en-US"];

    /// <summary>Runs <paramref name="action"/> with <see cref="CultureInfo.CurrentCulture"/> set to <paramref name="culture"/>, then restores it.</summary>
    private static T InCulture<T>(string culture, Func<T> action)
    {
        CultureInfo saved = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo(culture);
        try
        {
            return action();
        }
        finally
        {
            CultureInfo.CurrentCulture = saved;
        }
    }

    // Every option of every command, with the command names that lead to it (the root's children first).
    private static IEnumerable<(string[] Path, Option Option)> AllOptions(Command command, string[] path)
    {
        foreach (Option option in command.Options)
        {
            yield return (path, option);
        }
        foreach (Command subcommand in command.Subcommands)
        {
            foreach ((string[] Path, Option Option) found in AllOptions(subcommand, [.. path, subcommand.Name]))
            {
                yield return found;
            }
        }
    }

    private static bool IsNumeric(Type type) =>
        (Nullable.GetUnderlyingType(type) ?? type) is var t && (t == typeof(int) || t == typeof(long) || t == typeof(float) || t == typeof(double));

    private static bool IsFloatingPoint(Type type) => (Nullable.GetUnderlyingType(type) ?? type) is var t && (t == typeof(float) || t == typeof(double));

    // Each is a number in some culture or some syntax, and none is a plain invariant decimal number.
    private static readonly string[] s_notPlainNumbers = ["1,5", "1.000,5", "1 000", "1_000", "0x10", " 1", "1 ", "1\n", "NaN", "Infinity", "-Infinity", "∞", "１", "1e", ""];

    [Test]
    public void EveryNumericOption_RefusesNumbersThatAreNotPlain_NamingItAndItsRange([ValueSource(nameof(s_cultures))] string culture)
    {
        RootCommand root = Rwkv.Onnx.Cli.Cli.CreateRootCommand();
        var numeric = AllOptions(root, []).Where(o => IsNumeric(o.Option.ValueType)).ToList();
        Assert.That(numeric, Has.Count.GreaterThan(25), "the walk finds the numeric options");
        Assert.Multiple(() =>
        {
            foreach ((string[] path, Option option) in numeric)
            {
                string[] malformed = [.. s_notPlainNumbers, .. IsFloatingPoint(option.ValueType) ? new[] { "1.5.2", "e5" } : ["1.5", "1e3"]];
                foreach (string value in malformed)
                {
                    ParseResult parsed = InCulture(culture, () => root.Parse([.. path, option.Name, value]));
                    ParseError? error = parsed.Errors.FirstOrDefault(e => e.Message.StartsWith(option.Name + ":", StringComparison.Ordinal));
                    Assert.That(error, Is.Not.Null, $"{string.Join(' ', path)} {option.Name} '{value}' is refused in {culture}");
                    Assert.That(error?.Message, Does.Contain($"'{value}' is not").And.Contain("expected").And.Not.Contain("System."),
                        $"{string.Join(' ', path)} {option.Name} '{value}'");
                }
            }
        });
    }

    [Test]
    public void EveryNumericOption_RefusesAnOverflowAsOutOfRange_StatingTheRange()
    {
        RootCommand root = Rwkv.Onnx.Cli.Cli.CreateRootCommand();
        Assert.Multiple(() =>
        {
            foreach ((string[] path, Option option) in AllOptions(root, []).Where(o => IsNumeric(o.Option.ValueType)))
            {
                // Beyond long and double: 1e400 is +infinity as a double.
                string value = IsFloatingPoint(option.ValueType) ? "1e400" : "99999999999999999999";
                ParseResult parsed = root.Parse([.. path, option.Name, value]);
                Assert.That(parsed.Errors.Select(e => e.Message),
                    Has.One.StartsWith($"{option.Name}: {value} is out of range; expected ").And.Not.Contain("System."),
                    $"{string.Join(' ', path)} {option.Name}");
            }
        });
    }

    [TestCase("de-DE")]
    [TestCase("fr-FR")]
    public void Generate_DecimalComma_IsRefusedInEveryCulture_NotReadAs15(string culture)
    {
        CliRun run = InCulture(culture, () => Run("generate", _model, "--prompt", "x", "--max-tokens", "1", "--temperature", "1,5"));
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Does.StartWith("error: --temperature: '1,5' is not a number").And.Contain("'.' as the decimal point").And.Contain("0 or more"));
            Assert.That(run.Stdout, Is.Empty, "nothing generated");
        });
    }

    [TestCase("de-DE", "0.5")]
    [TestCase("fr-FR", "0.5")]
    [TestCase("de-DE", ".5")]
    [TestCase("de-DE", "5e-1")]
    [TestCase("fr-FR", "+0.50")]
    public void SamplingOption_PlainDecimal_IsTheSameNumberInEveryCulture(string culture, string value)
    {
        // In German '.' groups thousands, so a culture-bound parser reads 0.5 as 5 (then out of range for --top-p).
        RootCommand root = Rwkv.Onnx.Cli.Cli.CreateRootCommand();
        Option<float> topP = root.Subcommands.Single(c => c.Name == "generate").Options.OfType<Option<float>>().Single(o => o.Name == "--top-p");
        ParseResult parsed = InCulture(culture, () => root.Parse(["generate", "dir", "--prompt", "x", "--top-p", value]));
        Assert.Multiple(() =>
        {
            Assert.That(parsed.Errors, Is.Empty);
            Assert.That(parsed.GetValue(topP), Is.EqualTo(0.5f));
        });
    }

    [Test]
    public void Logits_TokenList_IsReadInvariantly([ValueSource(nameof(s_cultures))] string culture)
    {
        RootCommand root = Rwkv.Onnx.Cli.Cli.CreateRootCommand();
        Option<int[]> tokens = root.Subcommands.Single(c => c.Name == "logits").Options.OfType<Option<int[]>>().Single();
        ParseResult parsed = InCulture(culture, () => root.Parse(["logits", "dir", "--tokens", "34,105,110", "--out", "x.npy"]));
        Assert.That(parsed.Errors, Is.Empty);
        Assert.That(parsed.GetValue(tokens), Is.EqualTo(new[] { 34, 105, 110 }));
    }

    [Test]
    public void Threads_AcceptsZeroToFourPerProcessor_AndStatesThatRange()
    {
        int maximum = 4 * Environment.ProcessorCount;
        RootCommand root = Rwkv.Onnx.Cli.Cli.CreateRootCommand();
        Assert.Multiple(() =>
        {
            foreach (string command in new[] { "generate", "logits", "chat", "verify", "bench" })
            {
                Assert.That(root.Parse([command, "dir", "--threads", "0"]).Errors.Where(e => e.Message.StartsWith("--threads", StringComparison.Ordinal)), Is.Empty, command);
                Assert.That(root.Parse([command, "dir", "--threads", $"{maximum}"]).Errors.Where(e => e.Message.StartsWith("--threads", StringComparison.Ordinal)), Is.Empty, command);
                Assert.That(root.Parse([command, "dir", "--threads", $"{maximum + 1}"]).Errors.Select(e => e.Message),
                    Has.One.EqualTo($"--threads: {maximum + 1} is out of range; expected a whole number from 0 to {maximum}."), command);
            }
        });
    }

    [TestCase("--top-p", "1.5", "a number greater than 0 and at most 1")]
    [TestCase("--min-p", "-0.1", "a number from 0 to 1")]
    [TestCase("--penalty-decay", "0", "a number greater than 0 and at most 1")]
    [TestCase("--temperature", "-0.5", "a number, 0 or more")]
    [TestCase("--top-k", "-1", "a whole number, 0 or more")]
    [TestCase("--max-tokens", "-1", "a whole number, 0 or more")]
    public void Generate_OutOfRangeNumber_StatesTheAcceptedRange(string option, string value, string range)
    {
        CliRun run = Run("generate", _model, "--prompt", "x", option, value);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2));
            Assert.That(run.Stderr, Does.StartWith($"error: {option}: {value} is out of range; expected {range}.{Environment.NewLine}"));
        });
    }

    [Test]
    public void NumericRange_Describe_NamesTheKindAndTheBounds() => Assert.Multiple(() =>
    {
        Assert.That(NumericRange.From(16, 256).Describe(), Is.EqualTo("a whole number from 16 to 256"));
        Assert.That(NumericRange.AtLeast(1L).Describe(), Is.EqualTo("a whole number, 1 or more"));
        Assert.That(NumericRange.Above(0f, 1f).Describe(), Is.EqualTo("a number greater than 0 and at most 1"));
        Assert.That(NumericRange.Above(0.0, double.MaxValue).Describe(), Is.EqualTo("a number greater than 0"));
        Assert.That(NumericRange.Any<float>().Describe(), Is.EqualTo("any finite number"));
        Assert.That(NumericRange.Any<int>().Describe(), Is.EqualTo("any whole number"));
        Assert.That(NumericRange.From(0f, 1f).Contains(float.NaN), Is.False);
        Assert.That(NumericRange.Any<float>().Contains(float.PositiveInfinity), Is.False);
    });
}

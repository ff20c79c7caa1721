using System.CommandLine;
using Rwkv.Onnx.Sampling;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// The sampling options of <c>generate</c> and <c>chat</c>: <c>--temperature</c>, <c>--top-p</c>, <c>--top-k</c>,
/// <c>--min-p</c>, <c>--presence-penalty</c>, <c>--frequency-penalty</c>, <c>--penalty-decay</c> and <c>--seed</c>.
/// </summary>
internal sealed class SamplingCommandOptions
{
    private readonly Option<float> _temperature;
    private readonly Option<float> _topP;
    private readonly Option<int> _topK = new Option<int>("--top-k")
    {
        Description = "Keep only the k most likely tokens; 0 keeps all.",
        DefaultValueFactory = _ => 0,
    }.InRange(NumericRange.AtLeast(0));
    private readonly Option<float> _minP = new Option<float>("--min-p")
    {
        Description = "Drop tokens less likely than this fraction of the most likely one, in [0, 1]; 0 is off.",
        DefaultValueFactory = _ => 0f,
    }.InRange(NumericRange.From(0f, 1f));
    private readonly Option<float> _presence;
    private readonly Option<float> _frequency;
    private readonly Option<float> _decay;
    private readonly Option<int?> _seed = new Option<int?>("--seed")
    {
        Description = "Random seed, for reproducible output.",
    }.InRange(NumericRange.Any<int>());

    /// <summary>
    /// Creates the options with the temperature, top-p and penalty defaults of <paramref name="defaults"/>
    /// (<see cref="SamplingSettings.Completion"/> or <see cref="SamplingSettings.Chat"/>, which the manifest records too).
    /// </summary>
    public SamplingCommandOptions(SamplingSettings defaults)
    {
        (float temperature, float topP, float presencePenalty, float frequencyPenalty, float penaltyDecay) =
            (defaults.Temperature, defaults.TopP, defaults.PresencePenalty, defaults.FrequencyPenalty, defaults.PenaltyDecay);
        _temperature = new Option<float>("--temperature")
        {
            Description = "Sampling temperature; 0 is greedy (always the most likely token).",
            DefaultValueFactory = _ => temperature,
        }.InRange(NumericRange.AtLeast(0f));
        _topP = new Option<float>("--top-p")
        {
            Description = "Nucleus probability mass, in (0, 1].",
            DefaultValueFactory = _ => topP,
        }.InRange(NumericRange.Above(0f, 1f));
        _presence = new Option<float>("--presence-penalty")
        {
            Description = "Subtracted from the logit of every token already generated.",
            DefaultValueFactory = _ => presencePenalty,
        }.InRange(NumericRange.Any<float>());
        _frequency = new Option<float>("--frequency-penalty")
        {
            Description = "Subtracted per (decayed) occurrence of a generated token.",
            DefaultValueFactory = _ => frequencyPenalty,
        }.InRange(NumericRange.Any<float>());
        _decay = new Option<float>("--penalty-decay")
        {
            Description = "Factor applied to the occurrence counts before each new token, in (0, 1]; needs a non-zero penalty.",
            DefaultValueFactory = _ => penaltyDecay,
        }.InRange(NumericRange.Above(0f, 1f));
    }

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { _temperature, _topP, _topK, _minP, _presence, _frequency, _decay, _seed })
        {
            command.Add(option);
        }
    }

    /// <summary>
    /// The sampling settings the command line asks for (each generation creates its sampler from them). Options that have no effect (the
    /// truncation options and the seed with temperature 0, the penalty decay without a penalty) get a <c>warning:</c> line
    /// on <paramref name="stderr"/> rather than an error: as with Hugging Face's <c>generate</c>, a script that always
    /// passes its sampling settings and varies the temperature should run, but nobody should believe they took effect.
    /// </summary>
    public SamplingSettings Read(ParseResult parsed, TextWriter stderr)
    {
        float temperature = parsed.GetValue(_temperature);
        float presence = parsed.GetValue(_presence), frequency = parsed.GetValue(_frequency);
        if (temperature == 0 && Given(parsed, _topP, _topK, _minP, _seed) is { Length: > 0 } greedyIgnores)
        {
            stderr.WriteLine($"warning: {greedyIgnores} {(greedyIgnores.Contains(',', StringComparison.Ordinal) ? "have" : "has")} no effect with --temperature 0, which always picks the most likely token.");
        }
        if (presence == 0 && frequency == 0 && Given(parsed, _decay).Length > 0)
        {
            stderr.WriteLine("warning: --penalty-decay has no effect while --presence-penalty and --frequency-penalty are both 0.");
        }
        return new SamplingSettings
        {
            Temperature = temperature,
            TopP = parsed.GetValue(_topP),
            TopK = parsed.GetValue(_topK),
            MinP = parsed.GetValue(_minP),
            Seed = parsed.GetValue(_seed),
            PresencePenalty = presence,
            FrequencyPenalty = frequency,
            PenaltyDecay = parsed.GetValue(_decay),
        };
    }

    // The names of the options given on the command line, comma-separated; "" when none was.
    private static string Given(ParseResult parsed, params Option[] options) =>
        string.Join(", ", options.Where(o => parsed.GetResult(o) is { Implicit: false }).Select(o => o.Name));
}

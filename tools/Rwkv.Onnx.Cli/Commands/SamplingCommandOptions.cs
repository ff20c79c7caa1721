using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
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
    private readonly Option<int> _topK = new("--top-k") { Description = "Keep only the k most likely tokens; 0 keeps all.", DefaultValueFactory = _ => 0 };
    private readonly Option<float> _minP = new("--min-p") { Description = "Drop tokens less likely than this fraction of the most likely one; 0 is off.", DefaultValueFactory = _ => 0f };
    private readonly Option<float> _presence;
    private readonly Option<float> _frequency;
    private readonly Option<float> _decay;
    private readonly Option<int?> _seed = new("--seed") { Description = "Random seed, for reproducible output." };

    /// <summary>Creates the options with the given defaults (ChatRWKV's chat uses top-p 0.3 and penalties 0.5, decay 0.996).</summary>
    public SamplingCommandOptions(float temperature, float topP, float presencePenalty, float frequencyPenalty, float penaltyDecay)
    {
        _temperature = new("--temperature") { Description = "Sampling temperature; 0 is greedy.", DefaultValueFactory = _ => temperature };
        _topP = new("--top-p") { Description = "Nucleus probability mass, in (0, 1].", DefaultValueFactory = _ => topP };
        _presence = new("--presence-penalty") { Description = "Subtracted from the logit of every token already generated.", DefaultValueFactory = _ => presencePenalty };
        _frequency = new("--frequency-penalty") { Description = "Subtracted per (decayed) occurrence of a generated token.", DefaultValueFactory = _ => frequencyPenalty };
        _decay = new("--penalty-decay") { Description = "Factor applied to the occurrence counts before each new token, in (0, 1].", DefaultValueFactory = _ => penaltyDecay };

        _temperature.Validators.Add(result => Require(result, "--temperature", v => float.IsFinite(v) && v >= 0, "it must be 0 or more"));
        _topP.Validators.Add(result => Require(result, "--top-p", v => v > 0 && v <= 1, "it must be greater than 0 and at most 1"));
        _topK.Validators.Add(result => ModelLoadOptions.RequireAtLeast(result, "--top-k", 0));
        _minP.Validators.Add(result => Require(result, "--min-p", v => v >= 0 && v <= 1, "it must be from 0 to 1"));
        _presence.Validators.Add(result => Require(result, "--presence-penalty", float.IsFinite, "it must be a finite number"));
        _frequency.Validators.Add(result => Require(result, "--frequency-penalty", float.IsFinite, "it must be a finite number"));
        _decay.Validators.Add(result => Require(result, "--penalty-decay", v => v > 0 && v <= 1, "it must be greater than 0 and at most 1"));
    }

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { _temperature, _topP, _topK, _minP, _presence, _frequency, _decay, _seed })
        {
            command.Add(option);
        }
    }

    /// <summary>The sampler the command line asks for; penalties only when one is non-zero.</summary>
    public ISampler Read(ParseResult parsed)
    {
        float presence = parsed.GetValue(_presence), frequency = parsed.GetValue(_frequency);
        PenaltyProcessor? penalties = presence == 0 && frequency == 0
            ? null
            : new PenaltyProcessor { PresencePenalty = presence, FrequencyPenalty = frequency, Decay = parsed.GetValue(_decay) };
        return new TopPSampler
        {
            Temperature = parsed.GetValue(_temperature),
            TopP = parsed.GetValue(_topP),
            TopK = parsed.GetValue(_topK),
            MinP = parsed.GetValue(_minP),
            Seed = parsed.GetValue(_seed),
            Penalties = penalties,
        };
    }

    private static void Require(OptionResult result, string name, Func<float, bool> valid, string rule)
    {
        if (OptionValues.TryGet(result, out float value) && !valid(value))
        {
            result.AddError($"{name}: {value.ToString(CultureInfo.InvariantCulture)} is out of range; {rule}.");
        }
    }
}

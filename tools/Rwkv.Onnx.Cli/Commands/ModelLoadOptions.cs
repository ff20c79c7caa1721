using System.CommandLine;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// The <c>--provider</c>, <c>--device-id</c>, <c>--threads</c>, <c>--state-location</c> and <c>--verify-checksums</c> options
/// of every command that loads a model.
/// </summary>
internal sealed class ModelLoadOptions
{
    private static readonly Choices<RwkvExecutionProvider> s_providers = new("an execution provider",
        ("cpu", RwkvExecutionProvider.Cpu), ("cuda", RwkvExecutionProvider.Cuda), ("dml", RwkvExecutionProvider.DirectML),
        ("directml", RwkvExecutionProvider.DirectML));

    private static readonly Choices<RwkvStateLocation> s_stateLocations = new("a state location",
        ("auto", RwkvStateLocation.Auto), ("host", RwkvStateLocation.Host), ("device", RwkvStateLocation.Device));

    private readonly Option<Choice<RwkvExecutionProvider>> _provider = new Option<Choice<RwkvExecutionProvider>>("--provider")
    {
        Description = "Execution provider: cpu, cuda or dml (needs a build with -p:OnnxRuntimeFlavor=Gpu or DirectML).",
    }.OneOf(s_providers, RwkvExecutionProvider.Cpu);

    private readonly Option<int> _deviceId = new Option<int>("--device-id")
    {
        Description = "GPU index for cuda or dml.",
        DefaultValueFactory = _ => 0,
    }.InRange(NumericRange.AtLeast(0));

    private readonly Option<int> _threads = new Option<int>("--threads")
    {
        Description = "Intra-op threads; 0 lets ONNX Runtime choose (one per physical core).",
        DefaultValueFactory = _ => 0,
    }.InRange(ThreadRange);

    private readonly Option<Choice<RwkvStateLocation>> _stateLocation = new Option<Choice<RwkvStateLocation>>("--state-location")
    {
        Description = "Where the recurrent state lives between steps: auto (device on cuda, host otherwise), host or device.",
    }.OneOf(s_stateLocations, RwkvStateLocation.Auto);

    private readonly Option<bool> _verifyChecksums = new("--verify-checksums")
    {
        Description = "Hash the weights file and compare it with the manifest's SHA-256 before loading (reads the whole file).",
    };

    /// <summary>
    /// The accepted <c>--threads</c>: 0 (ONNX Runtime chooses) to 4 per logical processor. More threads than
    /// processors only contend for them; beyond a few per processor the number is a typo.
    /// </summary>
    public static NumericRange<int> ThreadRange => NumericRange.From(0, 4 * Environment.ProcessorCount);

    /// <summary>Adds the options to <paramref name="command"/>, refusing <c>--device-id</c> with the cpu provider, where it has no effect.</summary>
    public void AddTo(Command command)
    {
        command.Add(_provider);
        command.Add(_deviceId);
        command.Add(_threads);
        command.Add(_stateLocation);
        command.Add(_verifyChecksums);
        command.Validators.Add(result =>
        {
            if (OptionValues.IsGiven(result, _deviceId) && OptionValues.TryGet(result, _provider, out Choice<RwkvExecutionProvider> provider)
                && provider.Value == RwkvExecutionProvider.Cpu)
            {
                result.AddError("--device-id: selects a GPU for --provider cuda or dml; it has no effect with the cpu provider (the default).");
            }
        });
    }

    /// <summary>The model options the command line asks for; <paramref name="checkFiniteLogits"/> sets <see cref="RwkvModelOptions.CheckFiniteLogits"/>.</summary>
    public RwkvModelOptions Read(ParseResult parsed, int? prefillChunkSize = null, bool checkFiniteLogits = false) => new()
    {
        ExecutionProvider = parsed.GetValue(_provider),
        DeviceId = parsed.GetValue(_deviceId),
        IntraOpThreads = parsed.GetValue(_threads),
        StateLocation = parsed.GetValue(_stateLocation),
        VerifyChecksums = parsed.GetValue(_verifyChecksums),
        PrefillChunkSize = prefillChunkSize ?? RwkvModelOptions.DefaultPrefillChunkSize,
        CheckFiniteLogits = checkFiniteLogits,
    };
}

using System.CommandLine;
using System.CommandLine.Parsing;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// The <c>--provider</c>, <c>--device-id</c>, <c>--threads</c>, <c>--state-location</c> and <c>--verify-checksums</c> options
/// of every command that loads a model.
/// </summary>
internal sealed class ModelLoadOptions
{
    private readonly Option<RwkvExecutionProvider> _provider = new("--provider")
    {
        Description = "Execution provider: cpu, cuda or dml (needs a build with -p:OnnxRuntimeFlavor=Gpu or DirectML).",
        DefaultValueFactory = _ => RwkvExecutionProvider.Cpu,
        CustomParser = ParseProvider,
        HelpName = "cpu|cuda|dml",
    };

    private readonly Option<int> _deviceId = new("--device-id") { Description = "GPU index for cuda or dml.", DefaultValueFactory = _ => 0 };

    private readonly Option<int> _threads = new("--threads") { Description = "Intra-op threads; 0 lets ONNX Runtime choose.", DefaultValueFactory = _ => 0 };

    private readonly Option<RwkvStateLocation> _stateLocation = new("--state-location")
    {
        Description = "Where the recurrent state lives between steps: auto (device on cuda, host otherwise), host or device.",
        DefaultValueFactory = _ => RwkvStateLocation.Auto,
        CustomParser = ParseStateLocation,
        HelpName = "auto|host|device",
    };

    private readonly Option<bool> _verifyChecksums = new("--verify-checksums")
    {
        Description = "Hash the weights file and compare it with the manifest's SHA-256 before loading (reads the whole file).",
    };

    public ModelLoadOptions()
    {
        _deviceId.Validators.Add(result => RequireAtLeast(result, "--device-id", 0));
        _threads.Validators.Add(result => RequireAtLeast(result, "--threads", 0));
    }

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        command.Add(_provider);
        command.Add(_deviceId);
        command.Add(_threads);
        command.Add(_stateLocation);
        command.Add(_verifyChecksums);
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

    internal static void RequireAtLeast(OptionResult result, string name, int minimum)
    {
        if (OptionValues.TryGet(result, out int value) && value < minimum)
        {
            result.AddError($"{name}: {value} is out of range; it must be {minimum} or more.");
        }
    }

    private static RwkvExecutionProvider ParseProvider(ArgumentResult result) =>
        OptionValues.ParseChoice(result, "--provider", "an execution provider",
            ("cpu", RwkvExecutionProvider.Cpu), ("cuda", RwkvExecutionProvider.Cuda), ("dml", RwkvExecutionProvider.DirectML),
            ("directml", RwkvExecutionProvider.DirectML));

    private static RwkvStateLocation ParseStateLocation(ArgumentResult result) =>
        OptionValues.ParseChoice(result, "--state-location", "a state location",
            ("auto", RwkvStateLocation.Auto), ("host", RwkvStateLocation.Host), ("device", RwkvStateLocation.Device));
}

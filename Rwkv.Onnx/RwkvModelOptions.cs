namespace Rwkv.Onnx;

/// <summary>How <see cref="RwkvModel.Load"/> builds its ONNX Runtime sessions. Every property is validated when set.</summary>
public sealed class RwkvModelOptions
{
    /// <summary>
    /// The default of <see cref="PrefillChunkSize"/>: 256 tokens. With the chunked prefill recurrence, 512-token
    /// prompts of the RWKV-7 0.1B shape ran 975–1,013 tok/s at 256 against 653–729 at 64 on the 2-core CPU (BENCHMARKS.md).
    /// </summary>
    public const int DefaultPrefillChunkSize = 256;

    private readonly RwkvExecutionProvider _executionProvider = RwkvExecutionProvider.Cpu;
    private readonly RwkvStateLocation _stateLocation = RwkvStateLocation.Auto;
    private readonly int _deviceId;
    private readonly int _intraOpThreads;
    private readonly int _prefillChunkSize = DefaultPrefillChunkSize;

    /// <summary>The execution provider; <see cref="RwkvExecutionProvider.Cpu"/> by default.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined <see cref="RwkvExecutionProvider"/>.</exception>
    public RwkvExecutionProvider ExecutionProvider
    {
        get => _executionProvider;
        init
        {
            if (!Enum.IsDefined(value))
            {
                throw new ArgumentOutOfRangeException(nameof(ExecutionProvider), value, $"{value} is not a defined {nameof(RwkvExecutionProvider)}.");
            }
            _executionProvider = value;
        }
    }

    /// <summary>
    /// Where states of the model keep the recurrent state between runs; <see cref="RwkvStateLocation.Auto"/> (on the
    /// device for CUDA, on the host otherwise) by default.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined <see cref="RwkvStateLocation"/>.</exception>
    public RwkvStateLocation StateLocation
    {
        get => _stateLocation;
        init
        {
            if (!Enum.IsDefined(value))
            {
                throw new ArgumentOutOfRangeException(nameof(StateLocation), value, $"{value} is not a defined {nameof(RwkvStateLocation)}.");
            }
            _stateLocation = value;
        }
    }

    /// <summary>The GPU index for CUDA or DirectML; ignored on the CPU. Default 0.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int DeviceId
    {
        get => _deviceId;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value, nameof(DeviceId));
            _deviceId = value;
        }
    }

    /// <summary>Threads ONNX Runtime uses inside one operator; 0 (the default) lets ONNX Runtime choose.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int IntraOpThreads
    {
        get => _intraOpThreads;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value, nameof(IntraOpThreads));
            _intraOpThreads = value;
        }
    }

    /// <summary>
    /// The initial <see cref="RwkvRunner.PrefillChunkSize"/> of runners created by the model: the most
    /// tokens per sequence fed to the prefill graph in one run. Default <see cref="DefaultPrefillChunkSize"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int PrefillChunkSize
    {
        get => _prefillChunkSize;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value, nameof(PrefillChunkSize));
            _prefillChunkSize = value;
        }
    }

    /// <summary>
    /// Whether <see cref="RwkvModel.Load"/> hashes the weights file and compares the SHA-256 with the manifest's
    /// <c>weights.sha256</c>. Default false: hashing reads the whole file (seconds for a GB-size model), while the
    /// size check, which catches truncated and swapped files, always runs. Turn it on where a corrupted download
    /// or disk must be caught before serving.
    /// </summary>
    public bool VerifyChecksums { get; init; }

    /// <summary>
    /// Whether every <see cref="RwkvRunner"/> forward checks the logits it wrote and throws
    /// <see cref="Exceptions.NonFiniteValueException"/> on NaN or an infinity (naming the first such logit, and the position
    /// and id of the token it follows), instead of returning them. Default false: the check is one vectorized pass over
    /// the logits, small next to a step but not free.
    /// The generators (<see cref="Generation.TextGenerator"/>, <see cref="Generation.BatchGenerator"/>) check
    /// before every sample whatever this says. When it throws, the state has already advanced past the tokens.
    /// </summary>
    public bool CheckFiniteLogits { get; init; }
}

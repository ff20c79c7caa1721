using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Export;

/// <summary>Options of <see cref="RwkvExporter.Export"/>.</summary>
public sealed class ExportOptions
{
    /// <summary>The default ONNX opset: 17, which onnx 1.12's checker, TensorRT and DirectML accept.</summary>
    public const int DefaultOpset = 17;

    /// <summary>
    /// The block size of ONNX Runtime's own MatMulNBits quantizer, 128; the default layouts pick their own
    /// (<see cref="QuantLayout.Int8"/>, <see cref="QuantLayout.Int4"/>).
    /// </summary>
    public const int DefaultBlockSize = 128;

    private readonly int _opset = DefaultOpset;
    private readonly int? _wkvChunkLength;
    private readonly int? _contextLimit;
    private readonly float? _groupNormEpsilon;
    private readonly int? _blockSize;
    private readonly int? _residualRescaleEvery;
    private readonly string? _builtInTokenizer;

    /// <summary>Storage type of weight matrices. Default float32.</summary>
    public WeightDType WeightDType { get; init; } = WeightDType.Float32;

    /// <summary>
    /// Storage type of the LM head. Null (the default): the head of the dtype's default layout for int8/int4
    /// (<see cref="QuantLayout.DefaultFor"/>), else <see cref="WeightDType"/>.
    /// </summary>
    public WeightDType? HeadWeightDType { get; init; }

    /// <summary>
    /// Weights per quantization block (one scale each) for int8/int4: a power of two from 16 to 256. Null (the default):
    /// the dtype's default layout's. A layer whose input width is not a multiple is padded with zeros.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Not a power of two from 16 to 256.</exception>
    public int? BlockSize
    {
        get => _blockSize;
        init
        {
            if (value is { } v && (v is < 16 or > 256 || !int.IsPow2(v)))
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, $"Block size {value} is not a power of two from 16 to 256.");
            }
            _blockSize = value;
        }
    }

    /// <summary>How each block of an int8/int4 layer is rounded to codes. Null (the default): the dtype's default layout's.</summary>
    public BlockRounding? BlockRounding { get; init; }

    /// <summary>
    /// Linear layers an int4 export keeps at 8 bits (same block size and rounding). Null (the default): the dtype's default
    /// layout's. Ignored unless <see cref="WeightDType"/> is <see cref="WeightDType.Int4"/>.
    /// </summary>
    public QuantRoles? Int8Roles { get; init; }

    /// <summary>The storage type the LM head gets: <see cref="HeadWeightDType"/> or its default.</summary>
    public WeightDType ResolvedHeadDType =>
        HeadWeightDType ?? (WeightDType is WeightDType.Int8 or WeightDType.Int4 ? QuantLayout.DefaultFor(WeightDType).Head : WeightDType);

    /// <summary>
    /// The quantization layout these options give (the dtype's default layout with the options that are set), or null
    /// when neither the weights nor the head are int8/int4.
    /// </summary>
    public QuantLayout? ResolveQuantLayout()
    {
        WeightDType head = ResolvedHeadDType;
        WeightDType? bits = WeightDType is WeightDType.Int8 or WeightDType.Int4 ? WeightDType
            : head is WeightDType.Int8 or WeightDType.Int4 ? head : null;
        if (bits is not { } b)
        {
            return null;
        }
        QuantLayout d = QuantLayout.DefaultFor(b);
        return d with
        {
            BlockSize = BlockSize ?? d.BlockSize,
            Rounding = BlockRounding ?? d.Rounding,
            Head = head,
            Int8Roles = b == WeightDType.Int4 ? Int8Roles ?? d.Int8Roles : QuantRoles.None,
            Compute = QuantizedCompute,
        };
    }

    /// <summary>
    /// Rounds the tensors rwkv.cpp's quantizer rounds (the linear layers and RWKV-6's LoRA factors; not the head, the
    /// embedding or RWKV-7's LoRA factors) of a <see cref="WeightDType.Float32"/> export through a ggml block format and
    /// stores the result as float32: that format's error on these weights, with or without rwkv.cpp's activation rounding
    /// (<see cref="EmulatedArithmetic"/>), for comparison (<c>rwkv-onnx quant-frontier</c>). Null (default): no rounding.
    /// Needs input widths that are multiples of 32.
    /// </summary>
    public EmulatedBlockFormat? EmulatedFormat { get; init; }

    /// <summary>
    /// What an <see cref="EmulatedFormat"/> export reproduces: rwkv.cpp's arithmetic (<see cref="EmulatedArithmetic.Ggml"/>,
    /// the default: the activations are rounded to ggml's 8-bit blocks before each emulated matmul, as its CPU kernels
    /// do) or the format's weights alone (<see cref="EmulatedArithmetic.WeightsOnly"/>). Ignored without
    /// <see cref="EmulatedFormat"/>.
    /// </summary>
    public EmulatedArithmetic EmulatedArithmetic { get; init; } = EmulatedArithmetic.Ggml;

    /// <summary>Arithmetic of the int8/int4 matmuls. Default <see cref="QuantizedCompute.Int8"/>; ignored for float exports.</summary>
    public QuantizedCompute QuantizedCompute { get; init; } = QuantizedCompute.Int8;

    /// <summary>
    /// Halve the residual stream after every this many layers, with each layer's <c>att.output</c> and <c>ffn.value</c>
    /// weights divided by 2^(layer / N) to match, as ChatRWKV does for fp16: the layer norms make the logits and the state
    /// independent of the scale, while the float16 outputs of deep layers' matmuls stay far below 65504. 0 turns it off.
    /// Null (default): 6 for RWKV-4 fp16 exports, whose deep layers overflow float16 otherwise, and 0 for everything else.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative.</exception>
    public int? ResidualRescaleEvery
    {
        get => _residualRescaleEvery;
        init
        {
            if (value is { } v)
            {
                ArgumentOutOfRangeException.ThrowIfNegative(v);
            }
            _residualRescaleEvery = value;
        }
    }

    /// <summary>The runtime the directory is for. Default <see cref="ExportTarget.Rwkv"/>.</summary>
    public ExportTarget Target { get; init; } = ExportTarget.Rwkv;

    /// <summary>Replace an existing output directory. Default false: an existing directory is an error.</summary>
    public bool Overwrite { get; init; }

    /// <summary>ONNX opset, 17 to 21. Default <see cref="DefaultOpset"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside 17 to 21.</exception>
    public int Opset
    {
        get => _opset;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 17);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 21);
            _opset = value;
        }
    }

    /// <summary>
    /// A tokenizer file to copy into the model directory and name in the manifest: a World vocabulary
    /// (<c>rwkv_vocab_v20230424.txt</c>, kind <c>world</c>) or a Hugging Face <c>tokenizer.json</c> (kind <c>neox</c>).
    /// Null (default): <see cref="BuiltInTokenizer"/>, or else the built-in tokenizer of the vocabulary
    /// (<see cref="RwkvTokenizers.DefaultKind"/>: 256 <c>bytes</c>, 50,277 <c>neox</c>, 65,536 <c>world</c>); any other
    /// vocabulary gets a manifest without a tokenizer (kind <c>unknown</c>), which the runtime cannot generate text with.
    /// </summary>
    public string? TokenizerPath { get; init; }

    /// <summary>
    /// A state-tuning file (RWKV-PEFT's <c>.pth</c> of <c>blocks.{layer}.att.time_state</c>, or any checkpoint format)
    /// whose trained initial state the <see cref="ExportTarget.Genai"/> graphs start from, since onnxruntime-genai starts
    /// every state at zero and cannot load one. RWKV-5, 6 and 7 only. Null (default): the graphs start from zero. The
    /// <see cref="ExportTarget.Rwkv"/> target refuses it: our runtime loads the file at run time
    /// (<see cref="RwkvState.FromTimeState"/>).
    /// </summary>
    public string? TimeStatePath { get; init; }

    /// <summary>
    /// A built-in tokenizer to use instead of the vocabulary's default: <c>bytes</c>, <c>world</c> or <c>neox</c>
    /// (<see cref="RwkvTokenizers.BuiltInKinds"/>). <c>world</c> and <c>neox</c> copy their file into the model directory
    /// (<see cref="RwkvTokenizers.WorldVocabularyFile"/>, <see cref="RwkvTokenizers.GptNeoXTokenizerFile"/>), so the directory
    /// runs without this library. Null (default): see <see cref="TokenizerPath"/>; setting both is an error at export.
    /// </summary>
    /// <exception cref="ArgumentException">Not a built-in kind.</exception>
    public string? BuiltInTokenizer
    {
        get => _builtInTokenizer;
        init
        {
            if (value is not null && !RwkvTokenizers.BuiltInKinds.Contains(value))
            {
                throw new ArgumentException($"'{value}' is not a built-in tokenizer; the built-in ones are {string.Join(", ", RwkvTokenizers.BuiltInKinds)}.", nameof(value));
            }
            _builtInTokenizer = value;
        }
    }

    /// <summary>
    /// Epsilon of the per-head group norm <c>ln_x</c>; a training convention that the weights do not record.
    /// Null means the published value, 64e-5.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Not positive.</exception>
    public float? GroupNormEpsilon
    {
        get => _groupNormEpsilon;
        init
        {
            if (value is { } v)
            {
                ArgumentOutOfRangeException.ThrowIfNegativeOrZero(v);
            }
            _groupNormEpsilon = value;
        }
    }

    /// <summary>
    /// How the prefill graph runs the WKV recurrence: token by token in an ONNX Scan, or in the chunked-parallel form
    /// (matrix products within chunks of <see cref="WkvChunkLength"/> tokens, a Scan only across chunks). The step
    /// graph is the same either way. Default <see cref="PrefillRecurrence.Chunked"/>, the faster on the CPU provider
    /// (BENCHMARKS.md).
    /// </summary>
    public PrefillRecurrence PrefillRecurrence { get; init; } = PrefillRecurrence.Chunked;

    /// <summary>
    /// Tokens per chunk L of the chunked prefill recurrence: a power of two from 4 to 64, or null (the default) for the
    /// version's fastest on the CPU: 32 for RWKV-7, 16 for RWKV-4/5/6 (BENCHMARKS.md). The manifest's
    /// <c>prefill_recurrence</c> records the length used. Ignored by <see cref="PrefillRecurrence.Scan"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Not a power of two from 4 to 64.</exception>
    public int? WkvChunkLength
    {
        get => _wkvChunkLength;
        init
        {
            if (value is { } l && (l is < 4 or > 64 || !int.IsPow2(l)))
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, $"WKV chunk length {value} is not a power of two from 4 to 64.");
            }
            _wkvChunkLength = value;
        }
    }

    /// <summary>The default token capacity of a state that keeps every token (RWKV-7b): 4096, the context its models are trained for.</summary>
    public const int DefaultContextLimit = 4096;

    /// <summary>
    /// The most tokens a sequence's state holds, for models whose state keeps one row per token (RWKV-7b's attention
    /// cache): the cache is allocated with the state, 260 bytes per token per layer, and a run past it is refused
    /// (<c>ContextLimitExceededException</c>). From 1 to 2^24 (token counts stay exact in float32). Null (default):
    /// <see cref="DefaultContextLimit"/>. Setting it for any other model is an error at export: its state is fixed-size.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside 1 to 2^24.</exception>
    public int? ContextLimit
    {
        get => _contextLimit;
        init
        {
            if (value is < 1 or > 1 << 24)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, $"Context limit {value} is outside 1 to {1 << 24} tokens.");
            }
            _contextLimit = value;
        }
    }
}

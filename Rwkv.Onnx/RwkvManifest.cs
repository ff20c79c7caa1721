using System.Text.Json;
using System.Text.Json.Serialization;
using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx;

/// <summary>
/// Everything another team needs to drive an exported model without our code: architecture sizes,
/// weight dtype, state tensors, graph I/O, tokenizer, opset and the source checkpoint's hash.
/// Stored as <see cref="RwkvContract.ManifestFile"/> and in each graph's metadata.
/// </summary>
public sealed record RwkvManifest
{
    /// <summary>Directory-format version; see <see cref="RwkvContract.FormatVersion"/>.</summary>
    public required int FormatVersion { get; init; }

    /// <summary>The detected architecture.</summary>
    public required RwkvArchitectureInfo Architecture { get; init; }

    /// <summary>
    /// Weight storage type of the graphs: <c>fp32</c>, <c>fp16</c>, or <c>int8</c>/<c>int4</c> (linear layers
    /// block-quantized for ONNX Runtime's <c>MatMulNBits</c>). State and outputs are always float32.
    /// </summary>
    [JsonPropertyName("weight_dtype")]
    public required string WeightDType { get; init; }

    /// <summary>Storage type of the LM head, named like <see cref="WeightDType"/>; null in manifests that predate it (same as <see cref="WeightDType"/>).</summary>
    [JsonPropertyName("head_dtype")]
    public string? HeadDType { get; init; }

    /// <summary>Weights per quantization block of the int8/int4 layers; null when nothing is quantized.</summary>
    public int? BlockSize { get; init; }

    /// <summary>
    /// Arithmetic of the int8/int4 matmuls: <c>int8</c> (activations quantized per block) or <c>fp32</c>; null when
    /// nothing is quantized, and in manifests that predate it (which ran <c>fp32</c>).
    /// </summary>
    public string? QuantizedCompute { get; init; }

    /// <summary>
    /// The int8/int4 layout: a preset name (<c>int8</c>, <c>int4</c>, <c>int4-accurate</c>) or the full spec
    /// (<c>int4:block=32,rounding=search,head=fp32,int8-roles=none,compute=int8</c>); null when nothing is quantized,
    /// and in manifests that predate it.
    /// </summary>
    public string? QuantLayout { get; init; }

    /// <summary>
    /// How the int8/int4 blocks were rounded: <c>absmax</c>, <c>search</c> (symmetric, scale searched for the least
    /// squared error), <c>zero-point</c> or <c>zero-point-search</c> (asymmetric, a uint8 zero point per block); null
    /// when nothing is quantized, and in manifests that predate it (which used <c>absmax</c>).
    /// </summary>
    public string? BlockRounding { get; init; }

    /// <summary>
    /// Roles of an int4 export's linear layers kept at 8 bits (<c>first-last</c>, <c>att-value</c>, <c>att-output</c>,
    /// <c>ffn-value</c>, <c>att-key</c>, <c>att-receptance</c>, <c>att-gate</c>, <c>ffn-key</c>, <c>ffn-receptance</c>); empty when none, null for other dtypes and in manifests that predate it.
    /// </summary>
    [JsonPropertyName("int8_roles")]
    public IReadOnlyList<string>? Int8Roles { get; init; }

    /// <summary>
    /// The graphs halve the residual stream after every this many layers (fp16 overflow guard); null when they do not.
    /// Logits and state are the same either way, up to rounding.
    /// </summary>
    public int? ResidualRescaleEvery { get; init; }

    /// <summary>ONNX default-domain opset of both graphs.</summary>
    public required int Opset { get; init; }

    /// <summary>ONNX IR version of both graphs.</summary>
    public required int IrVersion { get; init; }

    /// <summary>The step graph: file and I/O names.</summary>
    public required RwkvGraphInfo StepGraph { get; init; }

    /// <summary>The prefill graph: file and I/O names.</summary>
    public required RwkvGraphInfo PrefillGraph { get; init; }

    /// <summary>
    /// The state-copy graph (<see cref="RwkvContract.StateCopyGraphFile"/>): inputs are the state inputs and outputs the
    /// state outputs, both in <see cref="State"/> order. The runtime runs it only to keep state in device memory.
    /// </summary>
    public required RwkvGraphInfo StateCopyGraph { get; init; }

    /// <summary>
    /// How the prefill graph runs the WKV recurrence: <c>scan</c> (token by token) or <c>chunked-{L}</c> (chunked-parallel
    /// over chunks of L tokens). Informational only; null in manifests of exporters that predate the field.
    /// </summary>
    public string? PrefillRecurrence { get; init; }

    /// <summary>
    /// ONNX Runtime session config entries (<c>AddSessionConfigEntry</c> keys and values) every session of these graphs
    /// must be created with. Empty when the graphs need no settings, as in every export of this version (CONTRACT.md,
    /// "session_config").
    /// </summary>
    public IReadOnlyDictionary<string, string> SessionConfig { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The external weights file shared by both graphs.</summary>
    public required RwkvFileInfo Weights { get; init; }

    /// <summary>State tensors per sequence, in layer order; each has a past (input) and present (output) name.</summary>
    public required IReadOnlyList<RwkvStateTensorInfo> State { get; init; }

    /// <summary>The sizes of the graphs' intermediate tensors, from which <see cref="RwkvMemoryEstimate"/> estimates a run.</summary>
    public required RwkvActivationInfo Activations { get; init; }

    /// <summary>
    /// The most tokens a sequence's state can hold, for models whose state keeps one row per token (RWKV-7b's attention
    /// cache, in slots whose layout has a <c>token</c> axis of that length); null (absent) for every model whose state
    /// is a fixed-size summary of any number of tokens. Present exactly when <see cref="FormatVersion"/> is
    /// <see cref="RwkvContract.ContextLimitFormatVersion"/>.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public RwkvContextLimitInfo? ContextLimit { get; init; }

    /// <summary>Tokenizer kind (<c>bytes</c> for vocab-256 models) and file, if any.</summary>
    public required RwkvTokenizerInfo Tokenizer { get; init; }

    /// <summary>The checkpoint the model was exported from.</summary>
    public required RwkvSourceInfo Source { get; init; }

    /// <summary>
    /// The oldest ONNX Runtime release that runs every graph of the directory: the newest of what the default-domain
    /// opset and each graph's <see cref="RwkvGraphInfo.CustomOps"/> need, e.g. <c>1.12.0</c> for a float export at
    /// opset 17, <c>1.18.0</c> for int4, <c>1.22.0</c> for int8 (<c>MatMulNBits</c> with 8 bits). Null in manifests written before it was recorded.
    /// </summary>
    [JsonPropertyName("min_onnxruntime_version")]
    public string? MinOnnxRuntimeVersion { get; init; }

    /// <summary>
    /// How to generate with the model: end-of-text and stop token ids, the chat template and recommended sampling. Null in
    /// manifests written before it was recorded.
    /// </summary>
    public RwkvGenerationInfo? Generation { get; init; }

    /// <summary>Serializes to indented snake_case JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, s_options);

    /// <summary>Parses manifest JSON.</summary>
    /// <param name="json">The JSON text.</param>
    /// <param name="path">The file it came from, for error messages.</param>
    /// <exception cref="ModelContractException">
    /// The JSON is malformed, lacks a field, has a null or out-of-range value, names a file outside the model directory,
    /// or has an unsupported format version.
    /// </exception>
    public static RwkvManifest FromJson(string json, string path)
    {
        // Checked before the fields: an older manifest lacks what this version requires, and its reader needs to
        // hear "re-export", not "missing field".
        if (PeekFormatVersion(json) is int version and < RwkvContract.FormatVersion and > 0)
        {
            throw new ModelContractException(path, "format_version",
                $"Manifest '{path}' has format_version {version}, written by an older rwkv-onnx; this runtime reads {RwkvContract.FormatVersion}. " +
                "Re-export the model directory with this version of rwkv-onnx.");
        }
        RwkvManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<RwkvManifest>(json, s_options);
        }
        catch (JsonException e)
        {
            // For a value of the wrong type System.Text.Json names the .NET type ("System.Int32"); the reader needs the field.
            string reason = e.Path is not null && e.Message.Contains("could not be converted", StringComparison.Ordinal)
                ? $"'{e.Path}' (line {e.LineNumber + 1}) has a value of the wrong type."
                : e.Message;
            throw new ModelContractException(path, "manifest", $"Manifest '{path}' is not valid: {reason}", e);
        }
        if (manifest is null)
        {
            throw new ModelContractException(path, "manifest", $"Manifest '{path}' is empty.");
        }
        if (manifest.FormatVersion is not (RwkvContract.FormatVersion or RwkvContract.ContextLimitFormatVersion))
        {
            throw new ModelContractException(path, "format_version",
                $"Manifest '{path}' has format_version {manifest.FormatVersion}; this runtime reads {RwkvContract.FormatVersion} " +
                $"and {RwkvContract.ContextLimitFormatVersion} (a state with a token capacity, 'context_limit').");
        }
        Validate(manifest, path);
        return manifest;
    }

    // The top-level format_version, or null when the JSON has none or does not parse (reported by the full parse).
    private static int? PeekFormatVersion(string json)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(json);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("format_version", out JsonElement version)
                && version.TryGetInt32(out int value) ? value : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    // JSON null passes the serializer for any reference-typed field, and sizes are plain ints: check every field the
    // runtime relies on, so that a damaged manifest fails here, by name, rather than later with a null or a huge buffer.
    private static void Validate(RwkvManifest m, string path)
    {
        void Fail(string key, string what) => throw new ModelContractException(path, key, $"Manifest '{path}' {what}.");
        T Present<T>(T? value, string key) where T : class => value ?? throw new ModelContractException(path, key, $"Manifest '{path}' has no '{key}'.");
        void Positive(long value, string key)
        {
            if (value <= 0)
            {
                Fail(key, $"has {key} {value}; expected a positive number");
            }
        }
        void PlainFile(string? file, string key)
        {
            string name = Present(file, key);
            if (name.Length == 0 || name != Path.GetFileName(name) || name is "." or ".." || name.Contains('\\', StringComparison.Ordinal))
            {
                Fail(key, $"names the file '{file}' as {key}; expected a plain file name inside the model directory");
            }
        }
        void Names(IReadOnlyList<string>? names, string key)
        {
            if (Present(names, key).Any(string.IsNullOrEmpty))
            {
                Fail(key, $"has an empty or null name in '{key}'");
            }
        }

        RwkvArchitectureInfo a = Present(m.Architecture, "architecture");
        Present(a.Version, "architecture.version");
        Positive(a.Layers, "architecture.layers");
        Positive(a.Embedding, "architecture.embedding");
        Positive(a.Heads, "architecture.heads");
        Positive(a.HeadSize, "architecture.head_size");
        Positive(a.Vocab, "architecture.vocab");
        Positive(a.FfnSize, "architecture.ffn_size");
        if (Present(a.LoraRanks, "architecture.lora_ranks").Values.Any(r => r <= 0))
        {
            Fail("architecture.lora_ranks", "has a LoRA rank that is not positive");
        }
        Present(m.WeightDType, "weight_dtype");
        if (m.BlockSize is { } blockSize)
        {
            Positive(blockSize, "block_size");
        }
        foreach ((RwkvGraphInfo? info, string key) in new[] { (m.StepGraph, "step_graph"), (m.PrefillGraph, "prefill_graph"), (m.StateCopyGraph, "state_copy_graph") })
        {
            RwkvGraphInfo graph = Present(info, key);
            PlainFile(graph.File, $"{key}.file");
            Names(graph.Inputs, $"{key}.inputs");
            Names(graph.Outputs, $"{key}.outputs");
        }
        if (Present(m.SessionConfig, "session_config").Any(e => string.IsNullOrEmpty(e.Key) || e.Value is null))
        {
            Fail("session_config", "has an empty key or a null value in 'session_config'");
        }
        RwkvFileInfo weights = Present(m.Weights, "weights");
        PlainFile(weights.File, "weights.file");
        if (weights.Bytes < 0)
        {
            Fail("weights.bytes", $"has weights.bytes {weights.Bytes}; expected a size in bytes");
        }
        Present(weights.Sha256, "weights.sha256");
        foreach (RwkvTensorInfo? tensor in Present(weights.Tensors, "weights.tensors"))
        {
            if (tensor is null || string.IsNullOrEmpty(tensor.Name) || tensor.DType is null || tensor.Shape is null)
            {
                Fail("weights.tensors", "has a weights tensor without a name, dtype or shape");
            }
        }
        foreach (RwkvStateTensorInfo? tensor in Present(m.State, "state"))
        {
            if (tensor is null || tensor.Slot is null || string.IsNullOrEmpty(tensor.Input) || string.IsNullOrEmpty(tensor.Output) || tensor.DType is null || tensor.Shape is null)
            {
                Fail("state", "has a state tensor without a slot, input, output, dtype or shape");
                return;
            }
            if (tensor.Layer < 0 || tensor.Layer >= a.Layers)
            {
                Fail("state", $"places state tensor '{tensor.Input}' in layer {tensor.Layer}; the model has layers 0 to {a.Layers - 1}");
            }
            long elements = 1;
            foreach (int d in tensor.Shape)
            {
                Positive(d, $"state '{tensor.Input}' dimension");
                elements = Math.Min(elements * d, long.MaxValue / int.MaxValue);
            }
            if (elements > Array.MaxLength)
            {
                Fail("state", $"gives state tensor '{tensor.Input}' the shape [{string.Join(", ", tensor.Shape)}], more elements than one buffer holds");
            }
            ValidateLayout(tensor, path);
        }
        ValidateContextLimit(m, path);
        RwkvActivationInfo activations = Present(m.Activations, "activations");
        Positive(activations.StepFloatsPerSequence, "activations.step_floats_per_sequence");
        Positive(activations.PrefillFloatsPerToken, "activations.prefill_floats_per_token");
        if (activations.WkvChunkLength < 0 || activations.WkvChunkFloatsPerToken < 0 || (activations.WkvChunkLength > 0) != (activations.WkvChunkFloatsPerToken > 0))
        {
            Fail("activations.wkv_chunk_length", $"has activations.wkv_chunk_length {activations.WkvChunkLength} and activations.wkv_chunk_floats_per_token " +
                $"{activations.WkvChunkFloatsPerToken}; expected both positive (a chunked prefill) or both 0 (a scan)");
        }
        RwkvTokenizerInfo tokenizer = Present(m.Tokenizer, "tokenizer");
        Present(tokenizer.Kind, "tokenizer.kind");
        if (tokenizer.File is not null)
        {
            PlainFile(tokenizer.File, "tokenizer.file");
        }
        RwkvSourceInfo source = Present(m.Source, "source");
        Present(source.File, "source.file");
        Present(source.Format, "source.format");
        Present(source.Sha256, "source.sha256");
        if (m.Generation is { } generation)
        {
            ValidateGeneration(generation, a.Vocab, path);
        }
    }

    // format_version 3 means a token capacity and only that, so that a runtime reading 2 refuses such a model; the
    // length slot must be a one-element state tensor of layer 0, which the runtime reads before every run.
    private static void ValidateContextLimit(RwkvManifest m, string path)
    {
        bool versioned = m.FormatVersion == RwkvContract.ContextLimitFormatVersion;
        if (m.ContextLimit is not { } limit)
        {
            if (versioned)
            {
                throw new ModelContractException(path, "context_limit",
                    $"Manifest '{path}' has format_version {m.FormatVersion} but no 'context_limit'; format {m.FormatVersion} exists only for a state with a token capacity.");
            }
            return;
        }
        if (!versioned)
        {
            throw new ModelContractException(path, "format_version",
                $"Manifest '{path}' has a 'context_limit' but format_version {m.FormatVersion}; a state with a token capacity needs format_version {RwkvContract.ContextLimitFormatVersion}.");
        }
        if (limit.MaxTokens <= 0 || limit.StateBytesPerToken <= 0)
        {
            throw new ModelContractException(path, "context_limit",
                $"Manifest '{path}' has context_limit.max_tokens {limit.MaxTokens} and context_limit.state_bytes_per_token {limit.StateBytesPerToken}; expected positive numbers.");
        }
        if (m.State.FirstOrDefault(s => s.Layer == 0 && s.Slot == limit.LengthSlot) is not { Shape: [1] })
        {
            throw new ModelContractException(path, "context_limit.length_slot",
                $"Manifest '{path}' names '{limit.LengthSlot}' as context_limit.length_slot; expected a state slot of shape [1] in layer 0.");
        }
    }

    // The generation block is optional (older format-2 manifests lack it), but when present the chat reads its template:
    // a missing text or an empty stop string would fail later, far from the manifest.
    private static void ValidateGeneration(RwkvGenerationInfo generation, int vocab, string path)
    {
        void Fail(string key, string what) => throw new ModelContractException(path, key, $"Manifest '{path}' {what}.");
        T Present<T>(T? value, string key) where T : class => value ?? throw new ModelContractException(path, key, $"Manifest '{path}' has no '{key}'.");

        if (Present(generation.StopTokenIds, "generation.stop_token_ids").Any(id => id < 0 || id >= vocab)
            || generation.EndOfTextId is < 0 || generation.EndOfTextId >= vocab)
        {
            Fail("generation.stop_token_ids", $"has a stop or end-of-text token id outside the vocabulary of {vocab}");
        }
        RwkvChatTemplateInfo template = Present(generation.ChatTemplate, "generation.chat_template");
        Present(template.Name, "generation.chat_template.name");
        Present(template.UserPrefix, "generation.chat_template.user_prefix");
        Present(template.AssistantPrefix, "generation.chat_template.assistant_prefix");
        Present(template.TurnSeparator, "generation.chat_template.turn_separator");
        if (Present(template.StopStrings, "generation.chat_template.stop_strings").Any(string.IsNullOrEmpty))
        {
            Fail("generation.chat_template.stop_strings", "has an empty or null stop string in 'generation.chat_template.stop_strings'");
        }
        RwkvSamplingPresets sampling = Present(generation.Sampling, "generation.sampling");
        Present(sampling.Completion, "generation.sampling.completion");
        Present(sampling.Chat, "generation.sampling.chat");
    }

    // A state tensor's axis names, and the tuned tensor that fills it: the runtime maps a state-tuning file by these names
    // alone, so they must name each axis once and the tuned tensor's axes must be the same names in some order.
    private static void ValidateLayout(RwkvStateTensorInfo tensor, string path)
    {
        void Fail(string key, string what) => throw new ModelContractException(path, key, $"Manifest '{path}' {what}.");
        static bool Distinct(IReadOnlyList<string> names) => names.All(n => !string.IsNullOrEmpty(n)) && names.Distinct(StringComparer.Ordinal).Count() == names.Count;

        if (tensor.Layout is not { } layout || layout.Count != tensor.Shape.Count || !Distinct(layout))
        {
            Fail("state.layout", $"gives state tensor '{tensor.Input}' the layout {FormatNames(tensor.Layout)}; expected {tensor.Shape.Count} distinct axis names, one per dimension of its shape [{string.Join(", ", tensor.Shape)}]");
            return;
        }
        if (tensor.TimeState is not { } timeState)
        {
            return;
        }
        if (string.IsNullOrEmpty(timeState.Tensor) || !timeState.Tensor.Contains(RwkvTimeStateInfo.LayerPlaceholder, StringComparison.Ordinal))
        {
            Fail("state.time_state.tensor", $"fills state tensor '{tensor.Input}' from the tuned tensor '{timeState.Tensor}'; expected a name with '{RwkvTimeStateInfo.LayerPlaceholder}' for the layer index");
        }
        if (timeState.Layout is not { } tuned || tuned.Count != layout.Count || !Distinct(tuned) || tuned.Except(layout, StringComparer.Ordinal).Any())
        {
            Fail("state.time_state.layout", $"gives the tuned tensor of state tensor '{tensor.Input}' the layout {FormatNames(timeState.Layout)}; expected the axes {FormatNames(layout)} in some order");
        }
    }

    private static string FormatNames(IReadOnlyList<string>? names) => names is null ? "none" : $"[{string.Join(", ", names)}]";

    /// <summary>Reads <see cref="RwkvContract.ManifestFile"/> from a model directory.</summary>
    /// <exception cref="ModelContractException">The file is missing or invalid.</exception>
    public static RwkvManifest Load(string modelDirectory)
    {
        string path = Path.Combine(modelDirectory, RwkvContract.ManifestFile);
        if (!File.Exists(path))
        {
            throw new ModelContractException(path, "manifest",
                $"'{modelDirectory}' is not an exported RWKV model directory: '{RwkvContract.ManifestFile}' is missing.");
        }
        return FromJson(File.ReadAllText(path), path);
    }

    /// <summary>The serializer settings of <see cref="ToJson"/> and <see cref="FromJson"/>: which keys are read, by what names.</summary>
    internal static JsonSerializerOptions SerializerOptions => s_options;

    private static readonly JsonSerializerOptions s_options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        RespectRequiredConstructorParameters = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    };
}

/// <summary>Architecture sizes detected from the checkpoint's tensors.</summary>
public sealed record RwkvArchitectureInfo
{
    /// <summary>RWKV version: <c>4</c>, <c>5.0</c>, <c>5.1</c>, <c>5.2</c>, <c>6</c> or <c>7</c> (ChatRWKV's names; rwkv.cpp calls 5.0 "5.1").</summary>
    public required string Version { get; init; }

    /// <summary>Number of blocks.</summary>
    public required int Layers { get; init; }

    /// <summary>Model width C (n_embd).</summary>
    public required int Embedding { get; init; }

    /// <summary>Number of heads H (1 for RWKV-4).</summary>
    public required int Heads { get; init; }

    /// <summary>Head size N, with H·N = C.</summary>
    public required int HeadSize { get; init; }

    /// <summary>Vocabulary size.</summary>
    public required int Vocab { get; init; }

    /// <summary>Channel-mix hidden width.</summary>
    public required int FfnSize { get; init; }

    /// <summary>LoRA ranks by name (RWKV-6/7), e.g. <c>w</c>, <c>a</c>, <c>v</c>, <c>g</c>.</summary>
    public IReadOnlyDictionary<string, int> LoraRanks { get; init; } = new Dictionary<string, int>();

    /// <summary>Number of parameters in the checkpoint.</summary>
    public required long Parameters { get; init; }

    /// <summary>Epsilon of the layer norms (ln0, ln1, ln2, ln_out).</summary>
    public required float LayerNormEpsilon { get; init; }

    /// <summary>Epsilon of the per-head group norm <c>ln_x</c> (RWKV-5 and later).</summary>
    public required float GroupNormEpsilon { get; init; }

    /// <summary>
    /// The variant of the version, or null for the base architecture: <c>deepembed</c> for RWKV-7a (DeepEmbed: per-layer
    /// token-indexed tables that scale the channel mix), <c>deepembed-attention</c> for RWKV-7b (DeepEmbed plus a small
    /// softmax attention over every earlier token, whose cache is in the state; see <see cref="RwkvManifest.ContextLimit"/>).
    /// Absent from manifests of base models.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Variant { get; init; }
}

/// <summary>
/// A state that keeps one row per token, up to a capacity fixed at export: each sequence's count of tokens held is in the
/// state itself, and a run that would take it past <see cref="MaxTokens"/> is refused before it runs.
/// </summary>
public sealed record RwkvContextLimitInfo
{
    /// <summary>The most tokens a sequence's state holds: the length of every state axis named <c>token</c>.</summary>
    public required int MaxTokens { get; init; }

    /// <summary>
    /// The state slot whose one float per sequence (in layer 0; every layer holds the same) counts the tokens the state
    /// holds: 0 in the initial state, plus the length of every run.
    /// </summary>
    public required string LengthSlot { get; init; }

    /// <summary>
    /// The bytes of state one token takes, all layers together (the rows it fills in the <c>token</c> axes). The capacity
    /// is allocated with the state, so a sequence's state is this times <see cref="MaxTokens"/> plus its fixed part.
    /// </summary>
    public required long StateBytesPerToken { get; init; }
}

/// <summary>A graph file and its I/O names.</summary>
public sealed record RwkvGraphInfo
{
    /// <summary>File name inside the model directory.</summary>
    public required string File { get; init; }

    /// <summary>Graph input names, in graph order.</summary>
    public required IReadOnlyList<string> Inputs { get; init; }

    /// <summary>Graph output names, in graph order.</summary>
    public required IReadOnlyList<string> Outputs { get; init; }

    /// <summary>
    /// The operator sets the graph imports, as in its ONNX <c>opset_import</c> (the default domain named <c>ai.onnx</c>);
    /// null in manifests written before they were recorded.
    /// </summary>
    public IReadOnlyList<RwkvOpsetImportInfo>? OpsetImports { get; init; }

    /// <summary>
    /// The operators of other domains than the default the graph uses (e.g. <c>com.microsoft</c>'s <c>MatMulNBits</c> in
    /// int8/int4 exports), each with the oldest ONNX Runtime release that runs it as used; empty for plain ONNX, null in
    /// manifests written before they were recorded.
    /// </summary>
    public IReadOnlyList<RwkvCustomOpInfo>? CustomOps { get; init; }
}

/// <summary>One operator set a graph imports.</summary>
public sealed record RwkvOpsetImportInfo
{
    /// <summary>The default ONNX domain's name in <see cref="Domain"/> (the graphs store it as the empty string).</summary>
    public const string DefaultDomain = "ai.onnx";

    /// <summary>Operator domain: <c>ai.onnx</c> for the default one, or e.g. <c>com.microsoft</c>.</summary>
    public required string Domain { get; init; }

    /// <summary>Opset version of the domain.</summary>
    public required int Version { get; init; }
}

/// <summary>An operator outside the default ONNX domain that a graph uses.</summary>
public sealed record RwkvCustomOpInfo
{
    /// <summary>Operator domain, e.g. <c>com.microsoft</c>.</summary>
    public required string Domain { get; init; }

    /// <summary>Operator type, e.g. <c>MatMulNBits</c>.</summary>
    public required string OpType { get; init; }

    /// <summary>
    /// The oldest ONNX Runtime release whose CPU provider runs the operator with the attributes the graph gives it
    /// (e.g. <c>1.18.0</c> for <c>MatMulNBits</c> with 4 bits, <c>1.22.0</c> with 8).
    /// </summary>
    [JsonPropertyName("min_onnxruntime_version")]
    public required string MinOnnxRuntimeVersion { get; init; }
}

/// <summary>A file with its size and SHA-256.</summary>
public sealed record RwkvFileInfo
{
    /// <summary>File name inside the model directory.</summary>
    public required string File { get; init; }

    /// <summary>Size in bytes.</summary>
    public required long Bytes { get; init; }

    /// <summary>Lower-case hex SHA-256 of the file.</summary>
    public required string Sha256 { get; init; }

    /// <summary>
    /// For the weights file: every tensor it holds, in file order, as the graphs' external initializers name them. A
    /// client can create each weight once from these entries (one mapping of the file) and hand it to every session,
    /// without parsing a graph. Required for the weights file.
    /// </summary>
    public IReadOnlyList<RwkvTensorInfo>? Tensors { get; init; }
}

/// <summary>One tensor stored in an external-data file: where its bytes are and how to read them.</summary>
public sealed record RwkvTensorInfo
{
    /// <summary>Initializer name in the graphs, e.g. <c>blocks.3.att.key.weight</c>.</summary>
    public required string Name { get; init; }

    /// <summary>Element type: <c>float32</c>, <c>float16</c>, <c>uint8</c>, <c>int8</c>, <c>int32</c> or <c>int64</c>.</summary>
    [JsonPropertyName("dtype")]
    public required string DType { get; init; }

    /// <summary>Dimensions, outermost first; empty for a scalar.</summary>
    public required IReadOnlyList<long> Shape { get; init; }

    /// <summary>Byte offset of the tensor's first element in the file, little-endian, row-major.</summary>
    public required long Offset { get; init; }

    /// <summary>Number of bytes: the product of <see cref="Shape"/> times the size of <see cref="DType"/>.</summary>
    public required long Length { get; init; }
}

/// <summary>One recurrent state tensor of one layer.</summary>
public sealed record RwkvStateTensorInfo
{
    /// <summary>Slot name, e.g. <c>att_shift</c>, <c>wkv</c>, <c>ffn_shift</c>.</summary>
    public required string Slot { get; init; }

    /// <summary>Layer index.</summary>
    public required int Layer { get; init; }

    /// <summary>Graph input name (<c>past_{slot}.{layer}</c>).</summary>
    public required string Input { get; init; }

    /// <summary>Graph output name (<c>present_{slot}.{layer}</c>).</summary>
    public required string Output { get; init; }

    /// <summary>Shape per sequence, without the leading batch dimension.</summary>
    public required IReadOnlyList<int> Shape { get; init; }

    /// <summary>Element type; always <c>float32</c>.</summary>
    [JsonPropertyName("dtype")]
    public required string DType { get; init; }

    /// <summary>Value of every element in the initial state (0, or -1e30 for RWKV-4's max-exponent slot).</summary>
    public required float Initial { get; init; }

    /// <summary>
    /// The name of each axis of <see cref="Shape"/>, in order: <c>channel</c> for a vector, <c>head</c>, <c>value</c>,
    /// <c>key</c> for the per-head matrices of RWKV-5, 6 and 7 (row i is what value channel i reads: y = S r).
    /// </summary>
    public required IReadOnlyList<string> Layout { get; init; }

    /// <summary>The tensor of a state-tuning file that fills this state tensor; null when state tuning does not touch it.</summary>
    public RwkvTimeStateInfo? TimeState { get; init; }
}

/// <summary>
/// Where a state-tuning file (RWKV-PEFT's <c>blocks.{layer}.att.time_state</c>) puts the initial value of a state
/// tensor, as the exporter decided it for the model's version: <see cref="RwkvState.FromTimeState"/> follows it.
/// </summary>
public sealed record RwkvTimeStateInfo
{
    /// <summary>The text in <see cref="Tensor"/> that stands for the layer index.</summary>
    public const string LayerPlaceholder = "{layer}";

    /// <summary>The tuned tensor's name, with <see cref="LayerPlaceholder"/> for the layer index, e.g. <c>blocks.{layer}.att.time_state</c>.</summary>
    public required string Tensor { get; init; }

    /// <summary>
    /// The tuned tensor's axes in its own order, named as in <see cref="RwkvStateTensorInfo.Layout"/>: the same names
    /// in the same order copy it as is; another order transposes it into the state's.
    /// </summary>
    public required IReadOnlyList<string> Layout { get; init; }
}

/// <summary>
/// How many floats ONNX Runtime's intermediate tensors take while the graphs run, in the terms
/// <see cref="RwkvMemoryEstimate"/> adds up; the exporter derives them from the architecture and multiples measured on
/// exported models (BENCHMARKS.md, "Memory estimate").
/// </summary>
public sealed record RwkvActivationInfo
{
    /// <summary>Floats per sequence of a decode step (the step graph).</summary>
    public required long StepFloatsPerSequence { get; init; }

    /// <summary>Floats per token of a prefill run, outside the chunked recurrence.</summary>
    public required long PrefillFloatsPerToken { get; init; }

    /// <summary>Tokens per chunk L of the prefill graph's chunked recurrence, which pads a run to a multiple of L; 0 when it scans token by token.</summary>
    public required int WkvChunkLength { get; init; }

    /// <summary>Floats per token of the padded run inside the chunked recurrence; 0 when it scans token by token.</summary>
    public required long WkvChunkFloatsPerToken { get; init; }
}

/// <summary>Which tokenizer the model uses.</summary>
public sealed record RwkvTokenizerInfo
{
    /// <summary><c>bytes</c> (token = byte, vocab 256), <c>world</c> or <c>neox</c>.</summary>
    public required string Kind { get; init; }

    /// <summary>Tokenizer file inside the model directory, or null when none is needed.</summary>
    public string? File { get; init; }
}

/// <summary>The source checkpoint.</summary>
public sealed record RwkvSourceInfo
{
    /// <summary>File name of the checkpoint (no directories).</summary>
    public required string File { get; init; }

    /// <summary>Checkpoint format, e.g. <c>rwkv.cpp</c>.</summary>
    public required string Format { get; init; }

    /// <summary>Lower-case hex SHA-256 of the checkpoint file.</summary>
    public required string Sha256 { get; init; }
}

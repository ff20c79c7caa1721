namespace Rwkv.Onnx;

/// <summary>
/// The contract between the exporter and the runtime: file names, graph input/output names,
/// state tensor names and metadata keys. Every such string lives here and nowhere else.
/// </summary>
public static class RwkvContract
{
    /// <summary>
    /// Version of the model-directory format described by <see cref="RwkvManifest"/>. Version 2 added
    /// <see cref="RwkvManifest.SessionConfig"/>, the weights file's tensor list and the state-copy graph.
    /// </summary>
    public const int FormatVersion = 2;

    /// <summary>
    /// Version of a model directory whose state holds one row per token up to a capacity (RWKV-7b's attention cache):
    /// its manifest has <see cref="RwkvManifest.ContextLimit"/>, which a runtime that reads only
    /// <see cref="FormatVersion"/> would ignore and then overrun. Every other export keeps <see cref="FormatVersion"/>.
    /// </summary>
    public const int ContextLimitFormatVersion = 3;

    /// <summary>
    /// ONNX Runtime's session config key that turns off pre-packing of constant weights; <c>"1"</c> in
    /// <see cref="RwkvManifest.SessionConfig"/> when the graphs compute from the weights as stored (then the runtime
    /// keeps the weights' mapping resident).
    /// </summary>
    public const string DisablePrepackingConfigKey = "session.disable_prepacking";

    /// <summary>The manifest file in an exported model directory.</summary>
    public const string ManifestFile = "rwkv-manifest.json";

    /// <summary>The one-token recurrent step graph.</summary>
    public const string StepGraphFile = "step.onnx";

    /// <summary>The chunked prefill graph.</summary>
    public const string PrefillGraphFile = "prefill.onnx";

    /// <summary>
    /// The state-copy graph: one Identity per state tensor, <c>past_{slot}.{layer}</c> to <c>present_{slot}.{layer}</c>. A
    /// runtime that keeps state in device memory runs it with inputs bound where the values are and outputs where they
    /// must go, and ONNX Runtime moves the data (ONNX Runtime 1.31 and 1.32 <c>CopyTensors</c> only know plugin providers).
    /// </summary>
    public const string StateCopyGraphFile = "state_copy.onnx";

    /// <summary>The external-data file holding every weight once, shared by both graphs.</summary>
    public const string WeightsFile = "weights.onnx.data";

    /// <summary>Input token ids: int64 <c>[batch]</c> (step) or <c>[batch, T]</c> (prefill).</summary>
    public const string TokensInput = "tokens";

    /// <summary>
    /// Prefill only: int64 scalar <c>n</c>, the number of trailing positions whose logits are computed
    /// (1 = last position only, T = all positions). The LM head runs only on those positions.
    /// </summary>
    public const string NumLogitsInput = "num_logits";

    /// <summary>Logits of the last position: float32 <c>[batch, vocab]</c>.</summary>
    public const string LogitsOutput = "logits";

    /// <summary>Prefill only: logits of the last <c>num_logits</c> positions, float32 <c>[batch, num_logits, vocab]</c>.</summary>
    public const string LogitsAllOutput = "logits_all";

    /// <summary>Symbolic batch dimension name used in graphs and in the manifest.</summary>
    public const string BatchDim = "batch";

    /// <summary>Symbolic sequence dimension name of the prefill graph.</summary>
    public const string SequenceDim = "sequence";

    /// <summary>The ONNX <c>metadata_props</c> key that holds the manifest JSON.</summary>
    public const string ManifestMetadataKey = "rwkv.manifest";

    /// <summary>The ONNX <c>metadata_props</c> key that names the graph kind (<c>step</c>, <c>prefill</c> or <c>state_copy</c>).</summary>
    public const string GraphKindMetadataKey = "rwkv.graph";

    /// <summary>Name of the graph input that carries state slot <paramref name="slot"/> of layer <paramref name="layer"/>.</summary>
    public static string PastStateName(string slot, int layer) => $"past_{slot}.{layer}";

    /// <summary>Name of the graph output that carries the updated state slot <paramref name="slot"/> of layer <paramref name="layer"/>.</summary>
    public static string PresentStateName(string slot, int layer) => $"present_{slot}.{layer}";
}

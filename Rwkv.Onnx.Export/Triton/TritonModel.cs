using System.Globalization;
using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx.Export.Triton;

/// <summary>
/// What Triton serves of an export, derived from its manifest and from the step graph's declared inputs and outputs:
/// the request inputs and response outputs (everything but the state), one implicit-state entry per past/present pair,
/// and the ONNX Runtime session settings the manifest asks for. Nothing here is per RWKV version.
/// </summary>
internal sealed class TritonModel
{
    // Session config entries Triton's ONNX Runtime backend passes to the session from the model's `parameters`
    // (onnxruntime_backend src/onnxruntime.cc); any other entry cannot be set there.
    private static readonly HashSet<string> s_backendSessionConfigKeys = new(StringComparer.Ordinal)
    {
        "session.use_device_allocator_for_initializers",
    };

    private TritonModel(IReadOnlyList<TritonTensor> inputs, IReadOnlyList<TritonTensor> outputs, IReadOnlyList<TritonStateEntry> states,
        IReadOnlyDictionary<string, string> parameters)
    {
        Inputs = inputs;
        Outputs = outputs;
        States = states;
        Parameters = parameters;
    }

    /// <summary>The request inputs: the graph's inputs that are not state (<c>tokens</c>).</summary>
    public IReadOnlyList<TritonTensor> Inputs { get; }

    /// <summary>The response outputs: the graph's outputs that are not state (<c>logits</c>).</summary>
    public IReadOnlyList<TritonTensor> Outputs { get; }

    /// <summary>The implicit state, in manifest order.</summary>
    public IReadOnlyList<TritonStateEntry> States { get; }

    /// <summary>The model's <c>parameters</c>: the manifest's session config entries, which the backend applies.</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; }

    /// <summary>The file name under <c>initial_state/</c> of a state that starts from a file.</summary>
    public static string InitialFileName(RwkvStateTensorInfo state) => $"{state.Input}.bin";

    /// <summary>Derives the served model and checks that Triton's sequence batcher can drive the graph.</summary>
    /// <param name="manifest">The export's manifest.</param>
    /// <param name="graph">The step graph's signature.</param>
    /// <param name="graphPath">The step graph's file, for messages.</param>
    /// <param name="startsFromFile">Whether a state (by input name) starts from a file rather than from zero.</param>
    /// <exception cref="ModelContractException">
    /// A state tensor of the manifest is missing from the graph or differs from it, a tensor's first dimension is not
    /// the symbolic batch, a type has no Triton equivalent, or the manifest asks for a session setting the backend cannot apply.
    /// </exception>
    public static TritonModel Create(RwkvManifest manifest, GraphSignature graph, string graphPath, Func<RwkvStateTensorInfo, bool> startsFromFile)
    {
        var stateInputs = new HashSet<string>(manifest.State.Select(s => s.Input), StringComparer.Ordinal);
        var stateOutputs = new HashSet<string>(manifest.State.Select(s => s.Output), StringComparer.Ordinal);
        var states = new List<TritonStateEntry>();
        foreach (RwkvStateTensorInfo state in manifest.State)
        {
            GraphTensor input = graph.Input(state.Input)
                ?? throw Mismatch(graphPath, state.Input, $"the manifest's state tensor '{state.Input}' is not an input of the graph");
            GraphTensor output = graph.Output(state.Output)
                ?? throw Mismatch(graphPath, state.Output, $"the manifest's state tensor '{state.Output}' is not an output of the graph");
            IReadOnlyList<long> dims = Batched(graphPath, input);
            string dataType = DataType(graphPath, input);
            long[] expected = [.. state.Shape.Select(d => (long)d)];
            if (!dims.SequenceEqual(expected))
            {
                throw Mismatch(graphPath, state.Input, $"state input '{state.Input}' has shape {Format([-1, .. dims])}; the manifest gives {Format([-1, .. expected])}");
            }
            if (output.ElementType != input.ElementType || !Batched(graphPath, output).SequenceEqual(dims))
            {
                throw Mismatch(graphPath, state.Output,
                    $"state output '{state.Output}' is {DataType(graphPath, output)} {Format(output.Dims)}; expected {dataType} {Format(input.Dims)} as its input '{state.Input}'");
            }
            if (dataType != "TYPE_FP32" || state.DType != "float32")
            {
                throw Mismatch(graphPath, state.Input, $"state input '{state.Input}' is {dataType} (manifest: {state.DType}); expected TYPE_FP32 (float32)");
            }
            states.Add(new TritonStateEntry(state, dataType, dims, startsFromFile(state) ? InitialFileName(state) : null));
        }
        return new TritonModel(
            [.. graph.Inputs.Where(i => !stateInputs.Contains(i.Name)).Select(i => Tensor(graphPath, i))],
            [.. graph.Outputs.Where(o => !stateOutputs.Contains(o.Name)).Select(o => Tensor(graphPath, o))],
            states,
            SessionParameters(manifest, graphPath));
    }

    private static TritonTensor Tensor(string graphPath, GraphTensor tensor)
    {
        IReadOnlyList<long> dims = Batched(graphPath, tensor);
        // Triton needs at least one dimension after the batch: a [batch] tensor is [1] per request, reshaped to [] for the graph.
        return dims.Count == 0
            ? new TritonTensor(tensor.Name, DataType(graphPath, tensor), [1], ReshapedToBatchOnly: true)
            : new TritonTensor(tensor.Name, DataType(graphPath, tensor), dims, ReshapedToBatchOnly: false);
    }

    // The dimensions after the batch, once the first is known to be the symbolic batch Triton fills (max_batch_size > 0).
    private static IReadOnlyList<long> Batched(string graphPath, GraphTensor tensor)
    {
        if (tensor.Dims.Count == 0 || tensor.Dims[0] != -1)
        {
            throw Mismatch(graphPath, tensor.Name,
                $"'{tensor.Name}' has shape {Format(tensor.Dims)}; Triton's batching (max_batch_size > 0) needs a symbolic batch as the first dimension of every input and output");
        }
        return [.. tensor.Dims.Skip(1)];
    }

    private static string DataType(string graphPath, GraphTensor tensor) => TritonDataType.FromOnnx(tensor.ElementType)
        ?? throw Mismatch(graphPath, tensor.Name, string.Create(CultureInfo.InvariantCulture,
            $"'{tensor.Name}' has ONNX element type {tensor.ElementType}, which Triton has no data type for"));

    private static Dictionary<string, string> SessionParameters(RwkvManifest manifest, string graphPath)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach ((string key, string value) in manifest.SessionConfig)
        {
            if (!s_backendSessionConfigKeys.Contains(key))
            {
                throw new ModelContractException(graphPath, $"session_config.{key}",
                    $"The manifest asks every session for '{key}' = '{value}', which Triton's ONNX Runtime backend cannot set (its model parameters pass on only {string.Join(", ", s_backendSessionConfigKeys.Select(k => $"'{k}'"))}); this export cannot be served by Triton as it is.");
            }
            parameters[key] = value;
        }
        return parameters;
    }

    private static ModelContractException Mismatch(string graphPath, string key, string what) =>
        new(graphPath, key, $"Graph '{graphPath}': {what}.");

    /// <summary>Dimensions as <c>[-1, 64]</c>.</summary>
    public static string Format(IEnumerable<long> dims) => $"[{string.Join(", ", dims.Select(d => d.ToString(CultureInfo.InvariantCulture)))}]";
}

using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx;

/// <summary>
/// Checks a loaded graph's inputs and outputs against the manifest and the contract (<see cref="RwkvContract"/>): every
/// name either requires exists, with the element type and shape the contract fixes (<c>tokens</c> int64 <c>[batch]</c> or
/// <c>[batch, T]</c>, <c>num_logits</c> an int64 scalar, <c>logits</c> float32 <c>[batch, vocab]</c>, <c>logits_all</c> float32
/// <c>[batch, n, vocab]</c>), and every state tensor with the manifest's dtype and <c>[batch, ...shape]</c>. The runtime
/// sizes its buffers from the manifest, so a manifest edited to disagree with the graphs must not load.
/// </summary>
internal static class GraphIoValidator
{
    private const string Int64 = "int64";
    private const string Float32 = "float32";

    /// <summary>Validates the step (<paramref name="prefill"/> false) or prefill graph loaded in <paramref name="session"/>.</summary>
    /// <exception cref="ModelContractException">A name is missing, or an element type or shape differs; the message names
    /// the graph file, the tensor, what the manifest or contract expects and what the graph has.</exception>
    public static void Validate(string directory, RwkvManifest manifest, RwkvGraphInfo graph, InferenceSession session, bool prefill)
    {
        string path = Path.Combine(directory, graph.File);
        string[] states = [.. manifest.State.Select(s => s.Input)];
        string[] presents = [.. manifest.State.Select(s => s.Output)];
        string[] inputs = prefill ? [RwkvContract.TokensInput, RwkvContract.NumLogitsInput, .. states] : [RwkvContract.TokensInput, .. states];
        string[] outputs = prefill ? [RwkvContract.LogitsOutput, RwkvContract.LogitsAllOutput, .. presents] : [RwkvContract.LogitsOutput, .. presents];
        foreach (string name in inputs.Concat(graph.Inputs))
        {
            if (!session.InputMetadata.ContainsKey(name))
            {
                throw new ModelContractException(path, name, $"Graph '{path}' has no input '{name}', which the manifest requires.");
            }
        }
        foreach (string name in outputs.Concat(graph.Outputs))
        {
            if (!session.OutputMetadata.ContainsKey(name))
            {
                throw new ModelContractException(path, name, $"Graph '{path}' has no output '{name}', which the manifest requires.");
            }
        }

        int vocab = manifest.Architecture.Vocab;
        var input = new Tensors(path, "input", session.InputMetadata);
        var output = new Tensors(path, "output", session.OutputMetadata);
        input.Expect(RwkvContract.TokensInput, Int64, prefill ? [null, null] : [null], "the contract");
        output.Expect(RwkvContract.LogitsOutput, Float32, [null, vocab], "the contract");
        if (prefill)
        {
            input.Expect(RwkvContract.NumLogitsInput, Int64, [], "the contract");
            output.Expect(RwkvContract.LogitsAllOutput, Float32, [null, null, vocab], "the contract");
        }
        foreach (RwkvStateTensorInfo state in manifest.State)
        {
            int?[] shape = [null, .. state.Shape.Select(d => (int?)d)];
            input.Expect(state.Input, state.DType, shape, "the manifest");
            output.Expect(state.Output, state.DType, shape, "the manifest");
            if (state.DType != Float32)
            {
                // The graphs agree with the manifest, but RwkvState holds float buffers.
                throw new ModelContractException(path, state.Input,
                    $"Model '{directory}' keeps state '{state.Input}' as {state.DType}; this runtime reads only {Float32} state.");
            }
        }
    }

    /// <summary>
    /// Validates the state-copy graph loaded in <paramref name="session"/>: the manifest lists every state input and output
    /// in state order, and the graph has each with the state's dtype and <c>[batch, ...shape]</c>.
    /// </summary>
    /// <exception cref="ModelContractException">The manifest's list differs from the state tensors, or a name is missing, or an
    /// element type or shape differs.</exception>
    public static void ValidateStateCopy(string directory, RwkvManifest manifest, RwkvGraphInfo graph, InferenceSession session)
    {
        string path = Path.Combine(directory, graph.File);
        string manifestPath = Path.Combine(directory, RwkvContract.ManifestFile);
        if (!graph.Inputs.SequenceEqual(manifest.State.Select(s => s.Input)) || !graph.Outputs.SequenceEqual(manifest.State.Select(s => s.Output)))
        {
            throw new ModelContractException(manifestPath, "state_copy_graph",
                $"Manifest '{manifestPath}' gives state_copy_graph other inputs or outputs than its state tensors; expected " +
                $"the {manifest.State.Count} state inputs and outputs in state order.");
        }
        var input = new Tensors(path, "input", session.InputMetadata);
        var output = new Tensors(path, "output", session.OutputMetadata);
        foreach (RwkvStateTensorInfo state in manifest.State)
        {
            int?[] shape = [null, .. state.Shape.Select(d => (int?)d)];
            foreach ((Tensors tensors, string name, IReadOnlyDictionary<string, NodeMetadata> metadata, string direction) in
                new[] { (input, state.Input, session.InputMetadata, "input"), (output, state.Output, session.OutputMetadata, "output") })
            {
                if (!metadata.ContainsKey(name))
                {
                    throw new ModelContractException(path, name, $"Graph '{path}' has no {direction} '{name}', which the manifest requires.");
                }
                tensors.Expect(name, state.DType, shape, "the manifest");
            }
        }
    }

    /// <summary>The ONNX name of an element type: <c>float32</c>, <c>float16</c>, <c>int64</c>, ...</summary>
    internal static string TypeName(TensorElementType type) => type switch
    {
        TensorElementType.Float => Float32,
        TensorElementType.Double => "float64",
        _ => type.ToString().ToLowerInvariant(), // Float16, BFloat16, Int64, Int32, UInt8, Bool, String, ...
    };

    private readonly struct Tensors(string path, string direction, IReadOnlyDictionary<string, NodeMetadata> metadata)
    {
        // A null expected dimension (batch, sequence, num_logits) is symbolic; a graph's symbolic dimension (-1) matches any size.
        public void Expect(string name, string type, int?[] shape, string source)
        {
            NodeMetadata node = metadata[name];
            string actualType = node.IsTensor ? TypeName(node.ElementDataType) : node.OnnxValueType.ToString();
            int[] dims = node.IsTensor ? node.Dimensions : [];
            bool shapeMatches = node.IsTensor && dims.Length == shape.Length
                && dims.Zip(shape).All(d => d.First < 0 || d.Second is null || d.First == d.Second);
            if (actualType != type || !shapeMatches)
            {
                string expected = $"{type} [{string.Join(", ", shape.Select((d, i) => d?.ToString(CultureInfo.InvariantCulture) ?? (i == 0 ? RwkvContract.BatchDim : "?")))}]";
                string actual = $"{actualType} [{string.Join(", ", dims.Select(d => d < 0 ? "?" : d.ToString(CultureInfo.InvariantCulture)))}]";
                throw new ModelContractException(path, name,
                    $"Graph '{path}' {direction} '{name}' is {actual}; {source} expects {expected}.");
            }
        }
    }
}

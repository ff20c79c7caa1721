using System.Globalization;
using System.Text;

namespace Rwkv.Onnx.Export.Triton;

/// <summary>
/// Writes a model's <c>config.pbtxt</c>, Triton's <c>ModelConfig</c> message (triton-inference-server/common
/// protobuf/model_config.proto) in protobuf text format: the ONNX Runtime backend, batching over the step graph's first
/// dimension, the request inputs and outputs without the state, and the sequence batcher keeping every state tensor
/// per sequence.
/// </summary>
internal static class TritonModelConfig
{
    /// <summary>The file Triton reads in a model directory.</summary>
    public const string File = "config.pbtxt";

    /// <summary>The directory, beside the config, that <c>initial_state.data_file</c> names files in.</summary>
    public const string InitialStateDirectory = "initial_state";

    /// <summary>The config's text.</summary>
    /// <param name="name">The model's name (its directory in the repository).</param>
    /// <param name="model">What is served.</param>
    /// <param name="manifest">The export's manifest, for the header comment.</param>
    /// <param name="options">Batch size, sequences, instances, idle time.</param>
    public static string Format(string name, TritonModel model, RwkvManifest manifest, TritonRepositoryOptions options)
    {
        var text = new StringBuilder();
        void Line(string line) => text.Append(line).Append('\n');
        RwkvArchitectureInfo a = manifest.Architecture;
        Line($"# Written by rwkv-onnx triton from the export of {manifest.Source.File}: RWKV-{a.Version}, {Invariant(a.Layers)} layers, {manifest.WeightDType} weights.");
        Line($"# The step graph (one token per sequence and request) as 1/model.onnx; ONNX Runtime {manifest.MinOnnxRuntimeVersion ?? "(not recorded)"} or newer runs it.");
        Line($"name: {Quote(name)}");
        Line("backend: \"onnxruntime\"");
        Line($"max_batch_size: {Invariant(options.MaxBatchSize)}");
        Line("input [");
        Tensors(model.Inputs, Line);
        Line("]");
        Line("output [");
        Tensors(model.Outputs, Line);
        Line("]");
        Line("sequence_batching {");
        Line($"  max_sequence_idle_microseconds: {Invariant((long)options.SequenceIdleTimeout.TotalMicroseconds)}");
        // Oldest: the state lives with the sequence, not with a batch slot, so any ready requests may share a run, and
        // a run holds only ready requests (direct pads empty slots). No control inputs: initial_state starts a sequence.
        Line("  oldest {");
        Line($"    max_candidate_sequences: {Invariant(options.MaxSequences ?? 4 * options.MaxBatchSize)}");
        Line("  }");
        Line("  state [");
        for (int i = 0; i < model.States.Count; i++)
        {
            TritonStateEntry state = model.States[i];
            Line("    {");
            Line($"      input_name: {Quote(state.Info.Input)}");
            Line($"      output_name: {Quote(state.Info.Output)}");
            Line($"      data_type: {state.DataType}");
            Line($"      dims: {Dims(state.Dims)}");
            Line("      initial_state: {");
            Line($"        data_type: {state.DataType}");
            Line($"        dims: {Dims(state.Dims)}");
            Line(state.InitialFile is { } file ? $"        data_file: {Quote(file)}" : "        zero_data: true");
            Line($"        name: {Quote(state.InitialFile is null ? "zero" : "initial")}");
            Line("      }");
            Line(i + 1 < model.States.Count ? "    }," : "    }");
        }
        Line("  ]");
        Line("}");
        Line("instance_group [");
        Line("  {");
        Line($"    count: {Invariant(options.Instances)}");
        Line("  }");
        Line("]");
        foreach ((string key, string value) in model.Parameters.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            Line($"parameters {{ key: {Quote(key)} value: {{ string_value: {Quote(value)} }} }}");
        }
        return text.ToString();
    }

    private static void Tensors(IReadOnlyList<TritonTensor> tensors, Action<string> line)
    {
        for (int i = 0; i < tensors.Count; i++)
        {
            TritonTensor tensor = tensors[i];
            line("  {");
            line($"    name: {Quote(tensor.Name)}");
            line($"    data_type: {tensor.DataType}");
            line($"    dims: {Dims(tensor.Dims)}");
            if (tensor.ReshapedToBatchOnly)
            {
                line("    reshape: { shape: [ ] }");
            }
            line(i + 1 < tensors.Count ? "  }," : "  }");
        }
    }

    private static string Dims(IReadOnlyList<long> dims) => $"[ {string.Join(", ", dims.Select(d => d.ToString(CultureInfo.InvariantCulture)))} ]";

    private static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);

    // A protobuf text-format string literal.
    private static string Quote(string value)
    {
        var quoted = new StringBuilder("\"");
        foreach (char c in value)
        {
            quoted.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                _ => c.ToString(),
            });
        }
        return quoted.Append('"').ToString();
    }
}

using System.Globalization;
using Rwkv.Onnx.Export.Architectures;
using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Export.Genai;

/// <summary>
/// A state-tuning file's trained initial state (RWKV-PEFT's <c>blocks.{layer}.att.time_state</c>) baked into a genai
/// export: onnxruntime-genai starts every state tensor at zero and has no way to load one, so the graphs hold each
/// layer's tuned matrix as a weight and start from it (<see cref="GenaiStatePacking"/>). Our own target loads the same
/// file at run time instead (<see cref="RwkvState.FromTimeState"/>), following the manifest's <c>time_state</c>.
/// </summary>
internal static class GenaiTimeState
{
    /// <summary>The weight that holds layer <paramref name="layer"/>'s tuned initial value of its matrix state slot.</summary>
    public static string WeightName(int layer) => $"genai.time_state.{layer.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// Reads every layer's tuned matrix from <paramref name="path"/>, in the layout of the architecture's state slot,
    /// before anything is written.
    /// </summary>
    /// <exception cref="ArgumentException">The architecture has no state that state tuning fills (RWKV-4).</exception>
    /// <exception cref="FileNotFoundException">The file does not exist, or is a directory.</exception>
    /// <exception cref="CheckpointFormatException">
    /// The file is unreadable, lacks a layer's tensor, has one of the wrong shape or with a non-finite value, or holds
    /// one for a layer the model does not have.
    /// </exception>
    public static float[][] Read(string path, RwkvArchitecture architecture)
    {
        RwkvArchitectureInfo a = architecture.Info;
        if (architecture.StateSlots.SingleOrDefault(s => s.TimeState is not null) is not { TimeState: { } mapping } slot)
        {
            throw new ArgumentException($"Time state '{path}': an RWKV-{a.Version} model has no state that state tuning fills; time states ('time_state') are for RWKV-5, 6 and 7.", "options");
        }
        if (!mapping.Layout.SequenceEqual(slot.Layout, StringComparer.Ordinal))
        {
            // Every version's matrix state and RWKV-PEFT's tensor are both [head, value, key] (StateSlot.PeftTimeState).
            throw new InvalidOperationException($"State slot '{slot.Name}' is laid out {string.Join(", ", slot.Layout)}, its time state {string.Join(", ", mapping.Layout)}.");
        }
        using RwkvCheckpoint checkpoint = Open(path);
        ITensorSource file = checkpoint;
        var matrices = new float[a.Layers][];
        for (int layer = 0; layer <= a.Layers; layer++)
        {
            string name = mapping.Tensor.Replace(RwkvTimeStateInfo.LayerPlaceholder, layer.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
            bool found = file.TryGetTensor(name, out IReadOnlyList<int> shape, out float[] data);
            if (layer == a.Layers)
            {
                if (found)
                {
                    throw new CheckpointFormatException(path, name, $"Time state '{path}' has '{name}', but the model has only {a.Layers} layers (0 to {a.Layers - 1}).");
                }
                break;
            }
            string expected = $"[{string.Join(", ", slot.Shape)}]";
            if (!found)
            {
                throw new CheckpointFormatException(path, name, $"Time state '{path}' has no tensor '{name}'; expected {expected} ({string.Join(", ", mapping.Layout)}) for every layer 0 to {a.Layers - 1}.");
            }
            if (!shape.SequenceEqual(slot.Shape))
            {
                throw new CheckpointFormatException(path, name, $"Tensor '{name}' of time state '{path}' has shape [{string.Join(", ", shape)}]; expected {expected} ({string.Join(", ", mapping.Layout)}).");
            }
            int bad = Array.FindIndex(data, v => !float.IsFinite(v));
            if (bad >= 0)
            {
                throw new CheckpointFormatException(path, name, $"Tensor '{name}' of time state '{path}' holds {data[bad]} at index {bad}; expected finite values.");
            }
            matrices[layer] = data;
        }
        return matrices;
    }

    private static RwkvCheckpoint Open(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Time state '{path}' does not exist{(Directory.Exists(path) ? " as a file (it is a directory)" : "")}; expected a state-tuning file (RWKV-PEFT .pth with blocks.{{i}}.att.time_state).", path);
        }
        try
        {
            return RwkvCheckpoint.Open(path);
        }
        catch (CheckpointFormatException e)
        {
            throw new CheckpointFormatException(path, e.TensorName, $"Time state '{path}' cannot be read: {e.Message}", e);
        }
    }
}

using System.Globalization;
using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx;

public sealed partial class RwkvState
{
    /// <summary>The slot that holds the per-head matrix state in the manifest of RWKV-5, 6 and 7.</summary>
    private const string WkvSlot = "wkv";

    /// <summary>
    /// Creates a batch-1 state from an initial state trained by state tuning (RWKV-PEFT writes one
    /// <c>blocks.{i}.att.time_state</c> tensor <c>[H, N, N]</c> per layer): each layer's <c>wkv</c> slot gets its
    /// <c>time_state</c>, the token-shift slots their initial value. Generation started from a clone of it follows
    /// the tuned behaviour.
    /// </summary>
    /// <remarks>
    /// <c>time_state</c> is laid out <c>[head, value, key]</c>: RWKV-Runner and ChatRWKV load it unchanged into
    /// RWKV-7's state and transpose it into RWKV-5/6's <c>[head, key, value]</c> state. Our <c>wkv</c> slot is
    /// <c>[head, value, key]</c> for RWKV-6 and 7 (copied as is) and <c>[head, key, value]</c> for RWKV-5 (transposed
    /// per head). RWKV-4 has no matrix state and cannot take a tuned state.
    /// </remarks>
    /// <param name="model">The model the state was tuned for.</param>
    /// <param name="tensors">The tuned tensors; other tensors in it are ignored.</param>
    /// <returns>The state; the caller disposes it.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="StateMismatchException">
    /// The model is RWKV-4, a layer's <c>time_state</c> is missing or has another shape than the model's <c>wkv</c>
    /// slot, or the source has <c>time_state</c> tensors for more layers than the model has.
    /// </exception>
    /// <exception cref="NonFiniteValueException">A <c>time_state</c> value is NaN or infinite (the exception names the tensor and index).</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public static RwkvState FromTimeState(RwkvModel model, ITensorSource tensors)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tensors);
        model.ThrowIfDisposed();
        RwkvManifest manifest = model.Manifest;
        string version = manifest.Architecture.Version;
        if (!manifest.State.Any(s => s.Slot == WkvSlot))
        {
            throw new StateMismatchException("a model with a wkv state (RWKV-5, 6 or 7)", $"RWKV-{version}",
                $"RWKV-{version} has no matrix (wkv) state, so the tuned state of {tensors.Description} cannot be loaded into it.");
        }
        bool transpose = version.StartsWith('5');
        int layers = manifest.Architecture.Layers;
        if (tensors.TryGetTensor(TimeStateName(layers), out _, out _))
        {
            throw new StateMismatchException($"{layers} layers", "more layers",
                $"{tensors.Description} has '{TimeStateName(layers)}', but the model has only {layers} layers (0 to {layers - 1}).");
        }

        var state = new RwkvState(model, 1);
        try
        {
            float[][] buffers = state.HostForUpdate();
            for (int i = 0; i < manifest.State.Count; i++)
            {
                RwkvStateTensorInfo slot = manifest.State[i];
                if (slot.Slot != WkvSlot)
                {
                    continue;
                }
                string name = TimeStateName(slot.Layer);
                if (!tensors.TryGetTensor(name, out IReadOnlyList<int> shape, out float[] data))
                {
                    throw new StateMismatchException($"tensor '{name}'", "none", $"{tensors.Description} has no tensor '{name}'.");
                }
                if (!shape.SequenceEqual(slot.Shape) || data.Length != buffers[i].Length)
                {
                    throw new StateMismatchException(FormatShape(slot.Shape), FormatShape(shape),
                        $"Tensor '{name}' of {tensors.Description} has shape {FormatShape(shape)} ({data.Length} values); the model's '{slot.Input}' needs {FormatShape(slot.Shape)}.");
                }
                NonFiniteValueException.ThrowIfAny(data, name, tensors.Description);
                if (transpose)
                {
                    TransposePerHead(data, buffers[i], slot.Shape[0], slot.Shape[1]);
                }
                else
                {
                    data.CopyTo(buffers[i], 0);
                }
            }
            return state;
        }
        catch
        {
            state.Dispose();
            throw;
        }
    }

    private static string TimeStateName(int layer) => string.Create(CultureInfo.InvariantCulture, $"blocks.{layer}.att.time_state");

    private static string FormatShape(IReadOnlyList<int> shape) => $"[{string.Join(", ", shape)}]";

    // destination[h, j, i] = source[h, i, j] for each of `heads` n × n matrices.
    private static void TransposePerHead(float[] source, float[] destination, int heads, int n)
    {
        for (int h = 0; h < heads; h++)
        {
            int o = h * n * n;
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    destination[o + (j * n) + i] = source[o + (i * n) + j];
                }
            }
        }
    }
}

using System.Globalization;
using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx;

public sealed partial class RwkvState
{
    /// <summary>
    /// Creates a batch-1 state from an initial state trained by state tuning (RWKV-PEFT writes one
    /// <c>blocks.{i}.att.time_state</c> tensor <c>[H, N, N]</c> per layer): each state tensor whose manifest entry has a
    /// <see cref="RwkvStateTensorInfo.TimeState"/> gets its tuned tensor, arranged from the tuned tensor's layout into the
    /// state's; the others (the token shifts) their initial value. Generation started from a clone of it follows the
    /// tuned behaviour.
    /// </summary>
    /// <remarks>
    /// The exporter decides the mapping per RWKV version and writes it into the manifest; this method follows it and
    /// knows no versions. Exports of RWKV-5, 6 and 7 map <c>blocks.{layer}.att.time_state</c>, laid out
    /// <c>[head, value, key]</c> like their <c>wkv</c> state, onto it as is; RWKV-4 has no matrix state and no mapping.
    /// </remarks>
    /// <param name="model">The model the state was tuned for.</param>
    /// <param name="tensors">The tuned tensors; other tensors in it are ignored.</param>
    /// <returns>The state; the caller disposes it.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="StateMismatchException">
    /// The model's manifest maps no state tensor to a tuned tensor (RWKV-4), a layer's tuned tensor is missing or has
    /// another shape than the manifest's mapping gives, or the source has tuned tensors for more layers than the model has.
    /// </exception>
    /// <exception cref="NonFiniteValueException">A tuned value is NaN or infinite (the exception names the tensor and index).</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public static RwkvState FromTimeState(RwkvModel model, ITensorSource tensors)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tensors);
        model.ThrowIfDisposed();
        RwkvManifest manifest = model.Manifest;
        CheckTimeStateSource(manifest, tensors);
        var state = new RwkvState(model, 1);
        try
        {
            FillFromTimeState(manifest, tensors, state.HostForUpdate());
            return state;
        }
        catch
        {
            state.Dispose();
            throw;
        }
    }

    /// <summary>Refuses a model without a mapped state tensor, and a source with tuned tensors beyond the model's layers.</summary>
    internal static void CheckTimeStateSource(RwkvManifest manifest, ITensorSource tensors)
    {
        RwkvArchitectureInfo a = manifest.Architecture;
        List<RwkvTimeStateInfo> mappings = [.. manifest.State.Select(s => s.TimeState).OfType<RwkvTimeStateInfo>()];
        if (mappings.Count == 0)
        {
            throw new StateMismatchException("a model whose state a tuned state fills", $"RWKV-{a.Version}",
                $"The manifest of this RWKV-{a.Version} model maps no state tensor to a tuned tensor ('time_state'), so the tuned state of {tensors.Description} cannot be loaded into it.");
        }
        foreach (string pattern in mappings.Select(m => m.Tensor).Distinct(StringComparer.Ordinal))
        {
            string beyond = TensorName(pattern, a.Layers);
            if (tensors.TryGetTensor(beyond, out _, out _))
            {
                throw new StateMismatchException($"{a.Layers} layers", "more layers",
                    $"{tensors.Description} has '{beyond}', but the model has only {a.Layers} layers (0 to {a.Layers - 1}).");
            }
        }
    }

    /// <summary>
    /// Writes each mapped tuned tensor into its state buffer (<paramref name="buffers"/> in manifest order, batch 1),
    /// moving its axes from the tuned tensor's layout into the state tensor's as the manifest names them.
    /// </summary>
    internal static void FillFromTimeState(RwkvManifest manifest, ITensorSource tensors, float[][] buffers)
    {
        for (int i = 0; i < manifest.State.Count; i++)
        {
            RwkvStateTensorInfo slot = manifest.State[i];
            if (slot.TimeState is not { } mapping)
            {
                continue;
            }
            string name = TensorName(mapping.Tensor, slot.Layer);
            if (!tensors.TryGetTensor(name, out IReadOnlyList<int> shape, out float[] data))
            {
                throw new StateMismatchException($"tensor '{name}'", "none", $"{tensors.Description} has no tensor '{name}'.");
            }
            // Axis d of the state is axis sourceAxis[d] of the tuned tensor, which therefore has the shape `wanted`.
            int[] sourceAxis = [.. slot.Layout.Select(axis => IndexOf(mapping.Layout, axis))];
            int[] wanted = new int[slot.Shape.Count];
            for (int d = 0; d < wanted.Length; d++)
            {
                wanted[sourceAxis[d]] = slot.Shape[d];
            }
            if (!shape.SequenceEqual(wanted) || data.Length != buffers[i].Length)
            {
                throw new StateMismatchException(FormatShape(wanted), FormatShape(shape),
                    $"Tensor '{name}' of {tensors.Description} has shape {FormatShape(shape)} ({data.Length} values); the model's '{slot.Input}' needs {FormatShape(wanted)} ({string.Join(", ", mapping.Layout)}).");
            }
            NonFiniteValueException.ThrowIfAny(data, name, tensors.Description);
            Permute(data, wanted, sourceAxis, buffers[i]);
        }
    }

    private static string TensorName(string pattern, int layer) =>
        pattern.Replace(RwkvTimeStateInfo.LayerPlaceholder, layer.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);

    private static int IndexOf(IReadOnlyList<string> names, string name)
    {
        for (int i = 0; i < names.Count; i++)
        {
            if (names[i] == name)
            {
                return i;
            }
        }
        throw new InvalidOperationException($"Axis '{name}' is not in [{string.Join(", ", names)}]; RwkvManifest.Validate admits only permutations.");
    }

    private static string FormatShape(IReadOnlyList<int> shape) => $"[{string.Join(", ", shape)}]";

    // destination[i_0, .., i_{r-1}] = source[j] with source axis sourceAxis[d] at index i_d: a copy when the axes are in order.
    private static void Permute(float[] source, int[] sourceShape, int[] sourceAxis, float[] destination)
    {
        int rank = sourceShape.Length;
        if (sourceAxis.Select((axis, d) => axis == d).All(same => same))
        {
            source.CopyTo(destination, 0);
            return;
        }
        var sourceStride = new long[rank];
        long stride = 1;
        for (int a = rank - 1; a >= 0; a--)
        {
            sourceStride[a] = stride;
            stride *= sourceShape[a];
        }
        var index = new int[rank];
        for (int i = 0; i < destination.Length; i++)
        {
            long offset = 0;
            for (int d = 0; d < rank; d++)
            {
                offset += index[d] * sourceStride[sourceAxis[d]];
            }
            destination[i] = source[offset];
            for (int d = rank - 1; d >= 0 && ++index[d] == sourceShape[sourceAxis[d]]; d--)
            {
                index[d] = 0;
            }
        }
    }
}

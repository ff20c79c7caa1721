using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Rwkv.Onnx;

/// <summary>
/// Two sets of state tensors in a provider's memory, allocated from a session's allocator, and the lease that
/// keeps that allocator alive until they are released (see <see cref="DeviceState"/>).
/// </summary>
internal sealed class DeviceStateBuffers
{
    private readonly Action _returnLease;
    private OrtValue[][]? _sets;

    /// <param name="allocator">The session allocator of the provider's memory.</param>
    /// <param name="shapes">One shape per state tensor, batch first.</param>
    /// <param name="returnLease">Called once, after the tensors are released.</param>
    public DeviceStateBuffers(OrtAllocator allocator, long[][] shapes, Action returnLease)
    {
        var sets = new OrtValue[2][];
        try
        {
            for (int set = 0; set < 2; set++)
            {
                sets[set] = new OrtValue[shapes.Length];
                for (int i = 0; i < shapes.Length; i++)
                {
                    sets[set][i] = OrtValue.CreateAllocatedTensorValue(allocator, TensorElementType.Float, shapes[i]);
                }
            }
        }
        catch
        {
            DisposeAll(sets);
            throw;
        }
        _sets = sets;
        _returnLease = returnLease;
    }

    /// <summary>The tensors of set <paramref name="set"/> (0 or 1), in manifest order.</summary>
    /// <exception cref="ObjectDisposedException">The buffers have been released.</exception>
    public OrtValue[] Set(int set) => (Volatile.Read(ref _sets) ?? throw new ObjectDisposedException(nameof(DeviceStateBuffers)))[set];

    /// <summary>Frees the tensors and returns the lease. Safe to call more than once and from several threads.</summary>
    public void Release()
    {
        OrtValue[][]? sets = Interlocked.Exchange(ref _sets, null);
        if (sets is not null)
        {
            DisposeAll(sets);
            _returnLease();
        }
    }

    private static void DisposeAll(OrtValue[]?[] sets)
    {
        foreach (OrtValue[]? set in sets)
        {
            foreach (OrtValue? value in set ?? [])
            {
                value?.Dispose();
            }
        }
    }
}

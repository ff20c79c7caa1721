using Microsoft.ML.OnnxRuntime;

namespace Rwkv.Onnx;

/// <summary>
/// What a model needs to keep states in its provider's memory: the provider's memory description, the step
/// session's allocator for it and the <see cref="StateCopier"/>.
/// </summary>
/// <remarks>
/// A device tensor frees itself through the allocator that made it, so the allocator must outlive every
/// tensor, including the references an <see cref="OrtIoBinding"/> keeps. Each holder takes a lease
/// (<see cref="AddLease"/>); the model holds one until it is disposed, and the native objects are released
/// when the last lease is returned, whatever the order in which models, states and runners are disposed.
/// </remarks>
internal sealed class DeviceState
{
    private readonly OrtMemoryInfo _memoryInfo;
    private readonly OrtAllocator _allocator;
    private readonly Lock _lock = new();
    private int _leases = 1; // the model's
    private bool _modelDisposed;

    private DeviceState(OrtMemoryInfo memoryInfo, OrtAllocator allocator, StateCopier copier)
    {
        _memoryInfo = memoryInfo;
        _allocator = allocator;
        Copier = copier;
    }

    public StateCopier Copier { get; }

    /// <summary>
    /// Creates the allocator of the provider's memory in <paramref name="stepSession"/> and the copier, which takes
    /// <paramref name="copySession"/> (the state-copy graph's session) even if this throws.
    /// </summary>
    public static DeviceState Create(RwkvModelOptions options, IReadOnlyList<RwkvStateTensorInfo> state, InferenceSession copySession, InferenceSession stepSession)
    {
        var copier = new StateCopier(copySession, state);
        OrtMemoryInfo? memoryInfo = null;
        OrtAllocator? allocator = null;
        try
        {
            memoryInfo = options.ExecutionProvider switch
            {
                RwkvExecutionProvider.Cuda => new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.DeviceAllocator, options.DeviceId, OrtMemType.Default),
                RwkvExecutionProvider.DirectML => new OrtMemoryInfo("DML", OrtAllocatorType.DeviceAllocator, options.DeviceId, OrtMemType.Default),
                _ => new OrtMemoryInfo(OrtMemoryInfo.allocatorCPU, OrtAllocatorType.ArenaAllocator, 0, OrtMemType.Default),
            };
            allocator = new OrtAllocator(stepSession, memoryInfo);
            return new DeviceState(memoryInfo, allocator, copier);
        }
        catch
        {
            copier.Dispose();
            allocator?.Dispose();
            memoryInfo?.Dispose();
            throw;
        }
    }

    /// <summary>Allocates two sets of state tensors, which hold a lease until <see cref="DeviceStateBuffers.Release"/>.</summary>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public DeviceStateBuffers Allocate(long[][] shapes)
    {
        AddLease();
        try
        {
            return new DeviceStateBuffers(_allocator, shapes, RemoveLease);
        }
        catch
        {
            RemoveLease();
            throw;
        }
    }

    /// <summary>Keeps the allocator alive for one more holder of device tensors; pair with <see cref="RemoveLease"/>.</summary>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public void AddLease()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_modelDisposed, typeof(RwkvModel));
            _leases++;
        }
    }

    /// <summary>Returns a lease; the last one releases the allocator and the copier.</summary>
    public void RemoveLease()
    {
        lock (_lock)
        {
            if (--_leases > 0)
            {
                return;
            }
        }
        Copier.Dispose();
        _allocator.Dispose();
        _memoryInfo.Dispose();
    }

    /// <summary>Returns the model's lease; called once, when the model is disposed.</summary>
    public void ReleaseModelLease()
    {
        lock (_lock)
        {
            _modelDisposed = true;
        }
        RemoveLease();
    }
}

using Microsoft.ML.OnnxRuntime;

namespace Rwkv.Onnx;

/// <summary>
/// Copies a model's state tensors between host and device memory by running the export's state-copy graph
/// (<see cref="RwkvContract.StateCopyGraphFile"/>, one Identity per tensor) on the model's execution provider: the
/// inputs are bound where the values are, the outputs where they must go, and ONNX Runtime moves the data. ONNX
/// Runtime 1.31 and 1.32 <c>OrtEnv.CopyTensors</c> cannot do this: it only knows the data transfers of plugin providers and
/// throws even for CPU to CPU ("Data transfer implementation between source and destination device was not found").
/// </summary>
internal sealed class StateCopier : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputs;
    private readonly string[] _outputs;
    private int _copyCount;

    /// <param name="session">The state-copy graph's session, checked against the manifest; the copier owns it.</param>
    /// <param name="state">The manifest's state tensors, whose input and output names the graph copies between.</param>
    public StateCopier(InferenceSession session, IReadOnlyList<RwkvStateTensorInfo> state)
    {
        _session = session;
        _inputs = [.. state.Select(s => s.Input)];
        _outputs = [.. state.Select(s => s.Output)];
    }

    /// <summary>How many copies have run; tests use it to prove a decode loop copies nothing.</summary>
    public int CopyCount => Volatile.Read(ref _copyCount);

    /// <summary>Copies <paramref name="source"/>[i] into <paramref name="destination"/>[i], wherever each lives.</summary>
    public void Copy(OrtValue[] source, OrtValue[] destination)
    {
        using OrtIoBinding binding = _session.CreateIoBinding();
        for (int i = 0; i < _inputs.Length; i++)
        {
            binding.BindInput(_inputs[i], source[i]);
            binding.BindOutput(_outputs[i], destination[i]);
        }
        _session.RunWithBinding(_runOptions, binding);
        binding.SynchronizeBoundOutputs();
        Interlocked.Increment(ref _copyCount);
    }

    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
    }
}

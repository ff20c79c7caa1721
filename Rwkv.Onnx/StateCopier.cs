using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Rwkv.Onnx.Proto;

namespace Rwkv.Onnx;

/// <summary>
/// Copies a model's state tensors between host and device memory by running a graph of one Identity per
/// tensor on the model's execution provider: the inputs are bound where the values are, the outputs where
/// they must go, and ONNX Runtime moves the data. ONNX Runtime 1.31's <c>OrtEnv.CopyTensors</c> cannot do
/// this: it only knows the data transfers of plugin providers and throws even for CPU to CPU.
/// </summary>
internal sealed class StateCopier : IDisposable
{
    private const int IrVersion = 8;
    private const int Opset = 17;
    private const int FloatElementType = 1; // TensorProto.DataType.FLOAT

    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputs;
    private readonly string[] _outputs;
    private int _copyCount;

    /// <param name="stateCount">Number of state tensors, in manifest order.</param>
    /// <param name="sessionOptions">The model's session options, so the copy runs on the model's provider.</param>
    public StateCopier(int stateCount, SessionOptions sessionOptions)
    {
        _inputs = [.. Enumerable.Range(0, stateCount).Select(i => $"from_{i}")];
        _outputs = [.. Enumerable.Range(0, stateCount).Select(i => $"to_{i}")];
        try
        {
            _session = new InferenceSession(BuildGraph(_inputs, _outputs), sessionOptions);
        }
        catch
        {
            _runOptions.Dispose();
            throw;
        }
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

    // Float tensors of any shape: the batch size and state shapes differ between states of one model.
    private static byte[] BuildGraph(string[] inputs, string[] outputs)
    {
        var graph = new GraphProto { Name = "rwkv_state_copy" };
        for (int i = 0; i < inputs.Length; i++)
        {
            graph.Input.Add(FloatTensor(inputs[i]));
            graph.Output.Add(FloatTensor(outputs[i]));
            graph.Node.Add(new NodeProto { OpType = "Identity", Name = $"copy_{i}", Input = { inputs[i] }, Output = { outputs[i] } });
        }
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "Rwkv.Onnx",
            Graph = graph,
            OpsetImport = { new OperatorSetIdProto { Domain = "", Version = Opset } },
        };
        return model.ToByteArray();
    }

    private static ValueInfoProto FloatTensor(string name) =>
        new() { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = FloatElementType } } };
}

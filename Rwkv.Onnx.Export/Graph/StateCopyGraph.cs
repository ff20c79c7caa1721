namespace Rwkv.Onnx.Export.Graph;

/// <summary>
/// Builds the state-copy graph (<see cref="RwkvContract.StateCopyGraphFile"/>): one Identity per state tensor, from its
/// past name to its present name, in manifest order. A runtime that keeps state in device memory runs it to move state
/// between host and device, so that it needs no graph builder of its own.
/// </summary>
internal static class StateCopyGraph
{
    public static OnnxGraph Build(IReadOnlyList<RwkvStateTensorInfo> state, int opset)
    {
        var g = new OnnxGraph("rwkv_state_copy", opset, externalWeights: null);
        foreach (RwkvStateTensorInfo tensor in state)
        {
            object[] dims = [RwkvContract.BatchDim, .. tensor.Shape.Select(d => (object)(long)d)];
            g.Output(g.Input(tensor.Input, ElementType.Float, dims), tensor.Output, ElementType.Float, dims);
        }
        return g;
    }
}

using Rwkv.Onnx.Export.Graph;

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>
/// A version's recurrence over whole chunks (see <see cref="RwkvBlock.ChunkedRecurrence"/>): the per-chunk tensors
/// the state transition needs ([batch, chunks, ...], scanned over the chunk axis), the transition of one chunk
/// (carried states in slot order and one chunk of <see cref="PerChunk"/> to the next states), and the output of
/// every chunk given the states entering each chunk (stacked [batch, chunks, ...] per slot).
/// </summary>
internal sealed record ChunkedWkv(Value[] PerChunk, Func<Value[], Value[], Value[]> Step, Func<Value[], Value> Output);

using System.Text.RegularExpressions;

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>
/// The checkpoint tensors an export may leave unread: buffers that BlinkDL's training code registers and
/// <c>torch.save</c> stores, but that carry no weights and that no inference code reads. Every other tensor
/// of a checkpoint must be read by its architecture (<see cref="RwkvArchitecture.CheckTensors"/>).
/// </summary>
/// <remarks>
/// RWKV-LM's RWKV-4 "neo" trainer registers two causal masks: <c>copy_mask</c> (with <c>head_qk</c>) and
/// <c>blocks.{i}.tiny_mask</c> (with <c>tiny_att_dim</c>). Each comes with weights (<c>head_q</c>, <c>head_k</c>;
/// <c>tiny_q</c>, <c>tiny_k</c>, <c>tiny_v</c>) that are not ignored, so a checkpoint that uses those paths is still
/// refused; a mask alone changes nothing.
/// </remarks>
internal static partial class CheckpointIgnoreList
{
    /// <summary>Whether <paramref name="name"/> (canonical) is a training-only buffer.</summary>
    public static bool Ignores(string name) => TrainingBuffer().IsMatch(name);

    [GeneratedRegex(@"^(copy_mask|blocks\.\d+\.tiny_mask)$")]
    private static partial Regex TrainingBuffer();
}

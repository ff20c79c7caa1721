using System.Text.RegularExpressions;

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>
/// The checkpoint tensors an export may leave unread: tensors that BlinkDL's training code saves but that no
/// inference code reads. Every other tensor of a checkpoint must be read by its architecture
/// (<see cref="RwkvArchitecture.CheckTensors"/>).
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>RWKV-7's <c>blocks.0.att.v0</c>, <c>v1</c>, <c>v2</c>: the trainer creates the value-residual LoRA in every
/// layer, but layer 0's value is the residual itself (<c>v_first</c>), so ChatRWKV, RWKV-LM's demos ("actually
/// ignored") and fla's converter (<c>unused_names</c>) all drop it.</item>
/// <item>RWKV-LM's RWKV-4 "neo" trainer's causal masks: <c>copy_mask</c> (with <c>head_qk</c>) and
/// <c>blocks.{i}.tiny_mask</c> (with <c>tiny_att_dim</c>). Each comes with weights (<c>head_q</c>, <c>head_k</c>;
/// <c>tiny_q</c>, <c>tiny_k</c>, <c>tiny_v</c>) that are not ignored, so a checkpoint that uses those paths is still
/// refused; a mask alone changes nothing.</item>
/// </list>
/// </remarks>
internal static partial class CheckpointIgnoreList
{
    /// <summary>Whether <paramref name="name"/> (canonical) is a tensor no inference code reads.</summary>
    public static bool Ignores(string name) => Unused().IsMatch(name);

    [GeneratedRegex(@"^(blocks\.0\.att\.v[012]|copy_mask|blocks\.\d+\.tiny_mask)$")]
    private static partial Regex Unused();
}

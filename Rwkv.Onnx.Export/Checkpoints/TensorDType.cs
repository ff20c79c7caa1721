namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>Storage type of a checkpoint tensor. Every type is read as float32.</summary>
public enum TensorDType
{
    /// <summary>IEEE binary32.</summary>
    Float32,

    /// <summary>IEEE binary16.</summary>
    Float16,

    /// <summary>bfloat16 (the top half of a binary32).</summary>
    BFloat16,
}

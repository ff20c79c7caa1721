namespace Rwkv.Onnx.Export;

/// <summary>Storage type of exported weight matrices. Vectors, state and arithmetic stay float32.</summary>
public enum WeightDType
{
    /// <summary>IEEE binary32.</summary>
    Float32,

    /// <summary>IEEE binary16: half the size on disk; converted to float32 when the session loads.</summary>
    Float16,
}

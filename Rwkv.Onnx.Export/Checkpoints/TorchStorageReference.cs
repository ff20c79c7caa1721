namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// A storage named by a torch.save persistent id <c>('storage', torch.XStorage, key, location, numel)</c>;
/// its bytes are the zip entry <c>&lt;archive&gt;/data/&lt;key&gt;</c>.
/// </summary>
/// <param name="Key">The storage key (the zip entry's file name).</param>
/// <param name="DType">Element type, from the storage class.</param>
/// <param name="Location">Device it was saved from, e.g. <c>cpu</c> or <c>cuda:0</c> (informational).</param>
/// <param name="ElementCount">Number of elements the storage holds.</param>
internal sealed record TorchStorageReference(string Key, TensorDType DType, string Location, long ElementCount);

namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// A tensor as <c>torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, ...)</c> describes it:
/// a strided view of <paramref name="Storage"/>. Nothing is checked here but the types; the reader checks
/// that the view fits its storage.
/// </summary>
/// <param name="Storage">The storage viewed.</param>
/// <param name="StorageOffset">Index of the first element in the storage, in elements.</param>
/// <param name="Shape">Sizes, outermost first.</param>
/// <param name="Strides">Strides in elements, one per dimension.</param>
internal sealed record TorchTensorReference(TorchStorageReference Storage, long StorageOffset, long[] Shape, long[] Strides);

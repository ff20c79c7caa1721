using System.Text;
using System.Text.Json;
using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Tests.Fixtures;

/// <summary>
/// Writes safetensors files: 8-byte little-endian header length, a JSON header (<c>__metadata__</c>, then each
/// tensor's <c>dtype</c>, <c>shape</c>, <c>data_offsets</c>) padded with spaces to a multiple of 8, then the data.
/// </summary>
internal static class SafetensorsWriter
{
    /// <summary>One tensor: name, dtype, shape, values (encoded in the dtype).</summary>
    internal sealed record Tensor(string Name, TensorDType DType, long[] Shape, float[] Values);

    /// <summary>Writes <paramref name="tensors"/> in order; returns the header length.</summary>
    public static long Write(string path, IEnumerable<Tensor> tensors)
    {
        var header = new Dictionary<string, object> { ["__metadata__"] = new Dictionary<string, string> { ["format"] = "pt" } };
        var data = new MemoryStream();
        foreach (Tensor t in tensors)
        {
            long begin = data.Length;
            data.Write(TorchZipWriter.Encode(new TorchZipWriter.Storage(t.DType, t.Values)));
            header[t.Name] = new Dictionary<string, object>
            {
                ["dtype"] = t.DType switch { TensorDType.Float32 => "F32", TensorDType.Float16 => "F16", _ => "BF16" },
                ["shape"] = t.Shape,
                ["data_offsets"] = new[] { begin, data.Length },
            };
        }
        return WriteRaw(path, JsonSerializer.Serialize(header), data.ToArray());
    }

    /// <summary>Writes a header given as JSON text (padded to a multiple of 8) and raw data; returns the header length.</summary>
    public static long WriteRaw(string path, string headerJson, byte[] data)
    {
        byte[] json = Encoding.UTF8.GetBytes(headerJson);
        int padded = (json.Length + 7) / 8 * 8;
        using FileStream file = File.Create(path);
        file.Write(BitConverter.GetBytes((ulong)padded));
        file.Write(json);
        file.Write(Enumerable.Repeat((byte)' ', padded - json.Length).ToArray());
        file.Write(data);
        return padded;
    }
}

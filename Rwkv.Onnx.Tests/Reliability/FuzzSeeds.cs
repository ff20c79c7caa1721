using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Tests.Fixtures;
using static Rwkv.Onnx.Tests.Fixtures.TorchZipWriter;

namespace Rwkv.Onnx.Tests.Reliability;

/// <summary>Small, valid seed inputs for the fuzz tests, each with the offsets of its header fields.</summary>
internal static class FuzzSeeds
{
    /// <summary>Offsets of the fields of a zip local header, central header and end records, from their signatures.</summary>
    private static readonly int[] s_zipFieldOffsets = [0, 8, 10, 14, 18, 20, 22, 24, 26, 28, 30, 32, 34, 42, 44, 48, 52];

    /// <summary>
    /// An rwkv.cpp file with one record of every type code (FP32, FP16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) and the names
    /// <see cref="RwkvCppLayout"/> transforms (transposed LoRAs, the 3-D mix LoRA, decays, x_rwkvag); returns the bytes
    /// and the offset of every record and of each of its fields.
    /// </summary>
    public static (byte[] Bytes, int[] Boundaries) RwkvCpp(string directory)
    {
        var rng = new Random(7);
        byte[] Floats(int count)
        {
            byte[] b = new byte[count * 4];
            for (int i = 0; i < count; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(4 * i), (float)(rng.NextDouble() - 0.5));
            }
            return b;
        }
        byte[] Halves(int count)
        {
            byte[] b = new byte[count * 2];
            for (int i = 0; i < count; i++)
            {
                BinaryPrimitives.WriteHalfLittleEndian(b.AsSpan(2 * i), (Half)(rng.NextDouble() - 0.5));
            }
            return b;
        }
        byte[] Blocks(int rows, int blockBytes)
        {
            byte[] b = new byte[rows * blockBytes];
            rng.NextBytes(b);
            for (int r = 0; r < rows; r++)
            {
                BinaryPrimitives.WriteHalfLittleEndian(b.AsSpan(r * blockBytes), (Half)0.01); // a sane scale
            }
            return b;
        }
        RwkvCppWriter.RawTensor[] tensors =
        [
            new("emb.weight", [16, 32], 0, Floats(16 * 32)),
            new("blocks.0.att.key.weight", [32, 32], 1, Halves(32 * 32)),
            new("blocks.0.att.value.weight", [8, 32], 2, Blocks(8, 18)),
            new("blocks.0.att.receptance.weight", [8, 32], 3, Blocks(8, 20)),
            new("blocks.0.att.output.weight", [8, 32], 7, Blocks(8, 22)),
            new("blocks.0.ffn.key.weight", [8, 32], 8, Blocks(8, 24)),
            new("blocks.0.ffn.value.weight", [8, 32], 9, Blocks(8, 34)),
            new("blocks.0.att.time_maa_w1", [4, 32], 0, Floats(4 * 32)),
            new("blocks.0.att.time_maa_w2", [2, 4, 8], 0, Floats(2 * 4 * 8)),
            new("blocks.0.att.time_decay", [32], 0, Floats(32)),
            new("blocks.0.att.time_first", [32], 0, Floats(32)),
            new("blocks.0.att.time_faaaa", [4, 8, 1], 1, Halves(32)),
            new("blocks.0.att.x_rwkvag", [6, 1, 32], 0, Floats(6 * 32)),
            new("blocks.0.att.w1", [4, 32], 1, Halves(4 * 32)),
            new("blocks.0.att.ln_x.weight", [32], 0, Floats(32)),
            new("blocks.0.att.time_mix_k", [32], 0, Floats(32)),
        ];
        string path = Path.Combine(directory, "seed-rwkvcpp.bin");
        // data_type 9 (Q8_0): the header must name a type its tensors use, and none may be lower (RwkvCppReader.CheckHeader).
        RwkvCppWriter.WriteRaw(path, 16, 32, 1, 9, tensors);
        var boundaries = new List<int> { 0, 4, 8, 12, 16, 20 };
        int offset = RwkvCppWriter.HeaderSize;
        foreach (RwkvCppWriter.RawTensor t in tensors)
        {
            boundaries.AddRange([offset, offset + 4, offset + 8, offset + 12, offset + 16, offset + 20]);
            offset += 12 + (4 * t.Shape.Length) + Encoding.UTF8.GetByteCount(t.Name);
            boundaries.Add(offset);
            offset += t.Data.Length;
        }
        return (File.ReadAllBytes(path), [.. boundaries]);
    }

    /// <summary>The record boundaries of a real rwkv.cpp file (every record start and field).</summary>
    public static int[] RwkvCppBoundaries(byte[] bytes)
    {
        var boundaries = new List<int> { 0, 4, 8, 12, 16, 20 };
        int offset = RwkvCppWriter.HeaderSize;
        while (offset + 12 <= bytes.Length)
        {
            int dims = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset));
            int nameLength = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset + 4));
            int type = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset + 8));
            long elements = 1;
            for (int i = 0; i < dims; i++)
            {
                elements *= BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset + 12 + (4 * i)));
            }
            boundaries.AddRange([offset, offset + 4, offset + 8, offset + 12]);
            offset += 12 + (4 * dims) + nameLength;
            boundaries.Add(offset);
            offset += (int)(type switch { 0 => elements * 4, 1 => elements * 2, 2 => elements / 32 * 18, 3 => elements / 32 * 20, 7 => elements / 32 * 22, 8 => elements / 32 * 24, _ => elements / 32 * 34 });
        }
        return [.. boundaries];
    }

    /// <summary>The storages and views of <see cref="TorchZip"/>: fp32, fp16 and bf16, contiguous, transposed, offset and scalar.</summary>
    public static (TensorView[] Views, Dictionary<string, Storage> Storages) StateDict()
    {
        var storages = new Dictionary<string, Storage>
        {
            ["0"] = new(TensorDType.Float32, [.. Enumerable.Range(0, 64).Select(i => i * 0.25f)]),
            ["1"] = new(TensorDType.Float16, [.. Enumerable.Range(0, 48).Select(i => i * -0.5f)]),
            ["2"] = new(TensorDType.BFloat16, [.. Enumerable.Range(0, 32).Select(i => i * 2f)]),
        };
        TensorView[] views =
        [
            TensorView.Contiguous("blocks.0.att.key.weight", "0", 8, 8),
            new("blocks.0.att.value.weight", "0", 0, [8, 8], [1, 8]),
            TensorView.Contiguous("blocks.0.ffn.key.weight", "1", 6, 8),
            new("blocks.0.att.time_mix_k", "2", 4, [4, 7], [7, 1]),
            new("blocks.0.att.time_first", "2", 3, [], []),
        ];
        return (views, storages);
    }

    /// <summary>A torch.save zip of <see cref="StateDict"/>, with its zip signatures and field offsets as boundaries.</summary>
    public static (byte[] Bytes, int[] Boundaries) TorchZip(string directory, ZipOptions options, byte[]? pickle = null)
    {
        (TensorView[] views, Dictionary<string, Storage> storages) = StateDict();
        string path = Path.Combine(directory, "seed.pth");
        var entries = new List<(string, byte[])> { ("archive/data.pkl", pickle ?? PickleWriter.StateDict(views, storages)) };
        entries.AddRange(storages.Select(s => ($"archive/data/{s.Key}", Encode(s.Value))));
        entries.Add(("archive/byteorder", "little"u8.ToArray()));
        WriteZip(path, entries, options);
        byte[] bytes = File.ReadAllBytes(path);
        return (bytes, ZipBoundaries(bytes));
    }

    /// <summary>The signature positions of a zip's records plus the offsets of their fields.</summary>
    public static int[] ZipBoundaries(byte[] bytes)
    {
        var boundaries = new List<int>();
        foreach (uint signature in (uint[])[0x04034b50, 0x02014b50, 0x06054b50, 0x06064b50, 0x07064b50])
        {
            foreach (int at in FuzzHarness.Occurrences(bytes, BitConverter.GetBytes(signature)))
            {
                boundaries.AddRange(s_zipFieldOffsets.Select(o => at + o).Where(o => o < bytes.Length));
            }
        }
        return [.. boundaries.Distinct().Order()];
    }

    /// <summary>A safetensors header (JSON) of F32, F16 and BF16 tensors, one a scalar and one empty, and its data.</summary>
    public static (string Header, byte[] Data) Safetensors(string directory)
    {
        string path = Path.Combine(directory, "seed.safetensors");
        SafetensorsWriter.Write(path,
        [
            new("emb.weight", TensorDType.Float32, [4, 8], [.. Enumerable.Range(0, 32).Select(i => i * 0.5f)]),
            new("blocks.0.ln1.weight", TensorDType.Float16, [3, 5], [.. Enumerable.Range(0, 15).Select(i => (float)i)]),
            new("blocks.0.ln1.bias", TensorDType.BFloat16, [2, 2, 2], [.. Enumerable.Range(0, 8).Select(i => -i * 1f)]),
            new("head.scale", TensorDType.Float32, [], [3f]),
            new("head.empty", TensorDType.Float32, [0, 4], []),
        ]);
        byte[] bytes = File.ReadAllBytes(path);
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        return (Encoding.UTF8.GetString(bytes, 8, (int)headerLength).TrimEnd(), bytes[(8 + (int)headerLength)..]);
    }

    /// <summary>A safetensors file from a header and data, as <see cref="SafetensorsWriter.WriteRaw"/> writes it.</summary>
    public static byte[] SafetensorsFile(string directory, string header, byte[] data)
    {
        string path = Path.Combine(directory, "seed-raw.safetensors");
        SafetensorsWriter.WriteRaw(path, header, data);
        return File.ReadAllBytes(path);
    }

    /// <summary>JSON-aware mutations of a JSON object: fields removed, nulled, retyped or set to absurd values, at any depth.</summary>
    public static IEnumerable<FuzzCase> MutateJson(string json, int count, int rngSeed)
    {
        var rng = new Random(rngSeed);
        string[] replacements =
        [
            "null", "-1", "0", "2147483647", "2147483648", "-2147483648", "9223372036854775807", "18446744073709551616", "1e400", "1.5",
            "\"\"", "\"x\"", "\"../../etc/passwd\"", "[]", "{}", "[[]]", "[2147483647, 2147483647, 2147483647]", "[-1]", "[0, 0]",
            "[9223372036854775807, 1]", "true", "\"F64\"", "\"I8\"", "[1, 2, 3]", "\"\\u0000\"", "[null]", "{\"a\": null}",
        ];
        for (int i = 0; i < count; i++)
        {
            var root = System.Text.Json.Nodes.JsonNode.Parse(json)!; // the seed is valid JSON
            var containers = new List<System.Text.Json.Nodes.JsonNode>();
            void Walk(System.Text.Json.Nodes.JsonNode? node)
            {
                if (node is System.Text.Json.Nodes.JsonObject o)
                {
                    containers.Add(o);
                    foreach (KeyValuePair<string, System.Text.Json.Nodes.JsonNode?> p in o)
                    {
                        Walk(p.Value);
                    }
                }
                else if (node is System.Text.Json.Nodes.JsonArray a)
                {
                    containers.Add(a);
                    foreach (System.Text.Json.Nodes.JsonNode? e in a)
                    {
                        Walk(e);
                    }
                }
            }
            Walk(root);
            System.Text.Json.Nodes.JsonNode target = containers[rng.Next(containers.Count)];
            string replacement = replacements[rng.Next(replacements.Length)];
            string what;
            if (target is System.Text.Json.Nodes.JsonObject obj && obj.Count > 0)
            {
                string key = obj.ElementAt(rng.Next(obj.Count)).Key;
                switch (rng.Next(4))
                {
                    case 0:
                        obj.Remove(key);
                        what = $"remove '{key}'";
                        break;
                    case 1:
                        obj["extra_" + key] = System.Text.Json.Nodes.JsonNode.Parse(replacement);
                        what = $"add 'extra_{key}': {replacement}";
                        break;
                    default:
                        obj[key] = System.Text.Json.Nodes.JsonNode.Parse(replacement);
                        what = $"set '{key}' to {replacement}";
                        break;
                }
            }
            else if (target is System.Text.Json.Nodes.JsonArray array && array.Count > 0)
            {
                int at = rng.Next(array.Count);
                array[at] = System.Text.Json.Nodes.JsonNode.Parse(replacement);
                what = $"set element {at} of an array to {replacement}";
            }
            else
            {
                what = "unchanged";
            }
            yield return new FuzzCase(what, Encoding.UTF8.GetBytes(root.ToJsonString()));
        }
    }

    /// <summary>Reads every tensor of a checkpoint, as an export would.</summary>
    public static void OpenAndReadAll(string path)
    {
        using RwkvCheckpoint checkpoint = RwkvCheckpoint.Open(path);
        foreach (CheckpointTensor tensor in checkpoint.Tensors.Values)
        {
            tensor.ReadFloat32();
        }
    }

    /// <summary>JSON text of <paramref name="value"/>, for seeds.</summary>
    public static string Json(object value) => JsonSerializer.Serialize(value);
}

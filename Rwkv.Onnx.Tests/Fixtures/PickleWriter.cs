using System.Buffers.Binary;
using System.Text;
using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Tests.Fixtures;

/// <summary>
/// Emits pickle opcodes one by one, for synthetic <c>data.pkl</c> files: what torch.save writes
/// (<see cref="StateDict"/>) and hand-made hostile or broken pickles. Each method appends one opcode.
/// </summary>
internal sealed class PickleWriter
{
    private readonly MemoryStream _bytes = new();

    public byte[] ToArray() => _bytes.ToArray();

    public PickleWriter Op(byte opcode)
    {
        _bytes.WriteByte(opcode);
        return this;
    }

    public PickleWriter Raw(params byte[] bytes)
    {
        _bytes.Write(bytes);
        return this;
    }

    public PickleWriter Proto(byte version) => Op(0x80).Raw(version);

    public PickleWriter Mark() => Op((byte)'(');

    public PickleWriter Stop() => Op((byte)'.');

    public PickleWriter EmptyDict() => Op((byte)'}');

    public PickleWriter EmptyTuple() => Op((byte)')');

    public PickleWriter EmptyList() => Op((byte)']');

    public PickleWriter Tuple() => Op((byte)'t');

    public PickleWriter Tuple1() => Op(0x85);

    public PickleWriter Tuple2() => Op(0x86);

    public PickleWriter Tuple3() => Op(0x87);

    public PickleWriter SetItem() => Op((byte)'s');

    public PickleWriter SetItems() => Op((byte)'u');

    public PickleWriter Append() => Op((byte)'a');

    public PickleWriter Appends() => Op((byte)'e');

    public PickleWriter Reduce() => Op((byte)'R');

    public PickleWriter Build() => Op((byte)'b');

    public PickleWriter BinPersId() => Op((byte)'Q');

    public PickleWriter False() => Op(0x89);

    public PickleWriter True() => Op(0x88);

    public PickleWriter None() => Op((byte)'N');

    public PickleWriter Memoize() => Op(0x94);

    public PickleWriter BinPut(byte index) => Op((byte)'q').Raw(index);

    public PickleWriter LongBinPut(uint index) => Op((byte)'r').Raw(BitConverter.GetBytes(index));

    public PickleWriter BinGet(byte index) => Op((byte)'h').Raw(index);

    public PickleWriter LongBinGet(uint index) => Op((byte)'j').Raw(BitConverter.GetBytes(index));

    public PickleWriter Frame(ulong length) => Op(0x95).Raw(BitConverter.GetBytes(length));

    /// <summary>BINUNICODE (4-byte length) — torch.save's choice.</summary>
    public PickleWriter Unicode(string s)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(s);
        return Op((byte)'X').Raw(BitConverter.GetBytes(utf8.Length)).Raw(utf8);
    }

    /// <summary>SHORT_BINUNICODE (1-byte length), protocol 4.</summary>
    public PickleWriter ShortUnicode(string s)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(s);
        return Op(0x8c).Raw((byte)utf8.Length).Raw(utf8);
    }

    /// <summary>The smallest integer opcode, as pickle chooses: BININT1, BININT2, BININT or LONG1.</summary>
    public PickleWriter Int(long value)
    {
        if (value is >= 0 and <= byte.MaxValue)
        {
            return Op((byte)'K').Raw((byte)value);
        }
        if (value is >= 0 and <= ushort.MaxValue)
        {
            return Op((byte)'M').Raw(BitConverter.GetBytes((ushort)value));
        }
        if (value is >= int.MinValue and <= int.MaxValue)
        {
            return Op((byte)'J').Raw(BitConverter.GetBytes((int)value));
        }
        return Long1(value);
    }

    /// <summary>LONG1: minimal little-endian two's complement.</summary>
    public PickleWriter Long1(long value)
    {
        byte[] all = BitConverter.GetBytes(value);
        int n = 8;
        while (n > 1 && ((all[n - 1] == 0 && (all[n - 2] & 0x80) == 0) || (all[n - 1] == 0xff && (all[n - 2] & 0x80) != 0)))
        {
            n--;
        }
        return Op(0x8a).Raw((byte)n).Raw(all[..n]);
    }

    public PickleWriter BinFloat(double value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteDoubleBigEndian(bytes, value);
        return Op((byte)'G').Raw(bytes);
    }

    public PickleWriter Global(string module, string name) => Op((byte)'c').Raw(Encoding.UTF8.GetBytes($"{module}\n{name}\n"));

    public PickleWriter StackGlobal() => Op(0x93);

    /// <summary>A tuple of small integers (TUPLE1/2/3 or MARK … TUPLE), as torch.save writes sizes and strides.</summary>
    public PickleWriter IntTuple(IReadOnlyList<long> values)
    {
        if (values.Count == 0)
        {
            return EmptyTuple();
        }
        if (values.Count > 3)
        {
            Mark();
        }
        foreach (long v in values)
        {
            Int(v);
        }
        return values.Count switch { 1 => Tuple1(), 2 => Tuple2(), 3 => Tuple3(), _ => Tuple() };
    }

    /// <summary>
    /// What torch.save (protocol 2) writes for a dict of tensors: EMPTY_DICT, MARK, then per tensor the key and
    /// <c>_rebuild_tensor_v2((storage pid), offset, size, stride, False, OrderedDict())</c>, SETITEMS, STOP.
    /// Storages are named by key; each storage's type and element count come from <paramref name="storages"/>.
    /// </summary>
    public static byte[] StateDict(IEnumerable<TorchZipWriter.TensorView> tensors, IReadOnlyDictionary<string, TorchZipWriter.Storage> storages, bool orderedDict = false)
    {
        var w = new PickleWriter().Proto(2);
        if (orderedDict)
        {
            w.Global("collections", "OrderedDict").EmptyTuple().Reduce();
        }
        else
        {
            w.EmptyDict();
        }
        w.Mark();
        foreach (TorchZipWriter.TensorView t in tensors)
        {
            TorchZipWriter.Storage s = storages[t.StorageKey];
            w.Unicode(t.Name).Global("torch._utils", "_rebuild_tensor_v2")
                .Mark().Mark().Unicode("storage").Global("torch", StorageClass(s.DType)).Unicode(t.StorageKey).Unicode("cpu").Int(s.Values.Length).Tuple()
                .BinPersId()
                .Int(t.Offset).IntTuple(t.Shape).IntTuple(t.Strides).False().Global("collections", "OrderedDict").EmptyTuple().Reduce()
                .Tuple().Reduce();
        }
        return w.SetItems().Stop().ToArray();
    }

    public static string StorageClass(TensorDType dtype) => dtype switch
    {
        TensorDType.Float32 => "FloatStorage",
        TensorDType.Float16 => "HalfStorage",
        TensorDType.BFloat16 => "BFloat16Storage",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "torch storages here are fp32, fp16 or bf16."),
    };
}

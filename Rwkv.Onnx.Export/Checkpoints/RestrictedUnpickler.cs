using System.Buffers.Binary;
using System.Text;

namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// Reads the <c>data.pkl</c> of a torch.save checkpoint without executing anything. It interprets the
/// pickle opcodes torch.save emits (protocol 2) plus the protocol 2–4 basics that other writers use, and
/// resolves only an allow-list of globals into inert values: <c>torch._utils._rebuild_tensor_v2</c>
/// (a <see cref="TorchTensorReference"/>), <c>collections.OrderedDict</c> (a <see cref="PickleDict"/>) and
/// the storage classes <c>torch.FloatStorage</c>, <c>torch.HalfStorage</c>, <c>torch.BFloat16Storage</c>
/// (named by persistent ids, which become <see cref="TorchStorageReference"/>s). Any other global, and any
/// call of something else, is refused with a <see cref="CheckpointFormatException"/>.
/// </summary>
/// <remarks>
/// Python values map to: <c>str</c> → string, <c>int</c> → long, <c>float</c> → double, <c>bool</c> → bool,
/// <c>None</c> → null, <c>bytes</c> → byte[], tuple → object?[], list → List&lt;object?&gt;,
/// dict → <see cref="PickleDict"/>. Every opcode consumes at least one byte and every length is checked
/// against the bytes that remain before anything is allocated, so a corrupt pickle fails fast; it never
/// loops or allocates beyond a small multiple of its own size.
/// </remarks>
internal sealed class RestrictedUnpickler
{
    private const int HighestProtocol = 5;

    private readonly byte[] _data;
    private readonly string _path;
    private readonly string _entry;
    private readonly List<object?> _stack = [];
    private readonly List<int> _marks = [];
    private readonly Dictionary<long, object?> _memo = [];
    private readonly Dictionary<string, TorchStorageReference> _storages = new(StringComparer.Ordinal);
    private int _position;
    private int _opcodeStart;

    private RestrictedUnpickler(byte[] data, string path, string entry)
    {
        _data = data;
        _path = path;
        _entry = entry;
    }

    /// <summary>The allowed callables and classes, as <c>module.name</c>.</summary>
    public static IReadOnlyList<string> AllowedGlobals { get; } =
    [
        "torch._utils._rebuild_tensor_v2", "collections.OrderedDict", "torch.FloatStorage", "torch.HalfStorage", "torch.BFloat16Storage",
    ];

    /// <summary>Unpickles <paramref name="pickle"/>, refusing anything that would run code.</summary>
    /// <param name="pickle">The pickle bytes.</param>
    /// <param name="path">The checkpoint file, for messages.</param>
    /// <param name="entry">The zip entry the pickle came from, for messages.</param>
    /// <returns>The unpickled root object.</returns>
    /// <exception cref="CheckpointFormatException">The pickle is truncated, corrupt, uses an unsupported opcode, or names a global outside the allow-list.</exception>
    public static object? Load(byte[] pickle, string path, string entry)
    {
        ArgumentNullException.ThrowIfNull(pickle);
        return new RestrictedUnpickler(pickle, path, entry).Run();
    }

    private object? Run()
    {
        while (true)
        {
            _opcodeStart = _position;
            byte opcode = ReadByte();
            switch (opcode)
            {
                case 0x80: // PROTO
                    byte protocol = ReadByte();
                    if (protocol > HighestProtocol)
                    {
                        throw Error($"uses pickle protocol {protocol}; protocols up to {HighestProtocol} are supported");
                    }
                    break;
                case 0x95: // FRAME: a length prefix only
                    if (ReadUInt64() > (ulong)(_data.Length - _position))
                    {
                        throw Error("declares a frame longer than the bytes that remain; it is truncated");
                    }
                    break;
                case (byte)'.': // STOP
                    object? result = Pop();
                    return _stack.Count == 0 && _marks.Count == 0 ? result : throw Error("stops with values left on the stack; it is corrupt");

                case (byte)'(': // MARK
                    _marks.Add(_stack.Count);
                    break;
                case (byte)'0': // POP
                    Pop();
                    break;
                case (byte)'1': // POP_MARK
                    PopMark();
                    break;
                case (byte)'2': // DUP
                    Push(Peek());
                    break;

                case (byte)'N':
                    Push(null);
                    break;
                case 0x88: // NEWTRUE
                    Push(true);
                    break;
                case 0x89: // NEWFALSE
                    Push(false);
                    break;
                case (byte)'K': // BININT1
                    Push((long)ReadByte());
                    break;
                case (byte)'M': // BININT2
                    Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2)));
                    break;
                case (byte)'J': // BININT
                    Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4)));
                    break;
                case 0x8a: // LONG1
                    Push(ReadLong(ReadByte()));
                    break;
                case 0x8b: // LONG4
                    Push(ReadLong(ReadLength(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))));
                    break;
                case (byte)'G': // BINFLOAT, big-endian
                    Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8)));
                    break;

                case (byte)'X': // BINUNICODE
                    Push(ReadUtf8(ReadLength(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))));
                    break;
                case 0x8c: // SHORT_BINUNICODE
                    Push(ReadUtf8(ReadByte()));
                    break;
                case 0x8d: // BINUNICODE8
                    Push(ReadUtf8(ReadLength(ReadUInt64())));
                    break;
                case (byte)'T': // BINSTRING (Python 2 str)
                    Push(Encoding.Latin1.GetString(Take(ReadLength(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))))));
                    break;
                case (byte)'U': // SHORT_BINSTRING
                    Push(Encoding.Latin1.GetString(Take(ReadByte())));
                    break;
                case (byte)'B': // BINBYTES
                    Push(Take(ReadLength(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))).ToArray());
                    break;
                case (byte)'C': // SHORT_BINBYTES
                    Push(Take(ReadByte()).ToArray());
                    break;

                case (byte)')': // EMPTY_TUPLE
                    Push(Array.Empty<object?>());
                    break;
                case (byte)'t': // TUPLE
                    Push(PopMark());
                    break;
                case 0x85: // TUPLE1
                    Push(PopMany(1));
                    break;
                case 0x86: // TUPLE2
                    Push(PopMany(2));
                    break;
                case 0x87: // TUPLE3
                    Push(PopMany(3));
                    break;
                case (byte)']': // EMPTY_LIST
                    Push(new List<object?>());
                    break;
                case (byte)'l': // LIST
                    Push(new List<object?>(PopMark()));
                    break;
                case (byte)'a': // APPEND
                    object? item = Pop();
                    PeekAs<List<object?>>("APPEND").Add(item);
                    break;
                case (byte)'e': // APPENDS
                    object?[] items = PopMark();
                    PeekAs<List<object?>>("APPENDS").AddRange(items);
                    break;
                case (byte)'}': // EMPTY_DICT
                    Push(new PickleDict());
                    break;
                case (byte)'d': // DICT
                    var dict = new PickleDict();
                    SetItems(dict, PopMark());
                    Push(dict);
                    break;
                case (byte)'s': // SETITEM
                    object? value = Pop(), key = Pop();
                    SetItems(PeekAs<PickleDict>("SETITEM"), [key, value]);
                    break;
                case (byte)'u': // SETITEMS
                    object?[] pairs = PopMark();
                    SetItems(PeekAs<PickleDict>("SETITEMS"), pairs);
                    break;

                case (byte)'q': // BINPUT
                    _memo[ReadByte()] = Peek();
                    break;
                case (byte)'r': // LONG_BINPUT
                    _memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(4))] = Peek();
                    break;
                case 0x94: // MEMOIZE
                    _memo[_memo.Count] = Peek();
                    break;
                case (byte)'h': // BINGET
                    Push(Recall(ReadByte()));
                    break;
                case (byte)'j': // LONG_BINGET
                    Push(Recall(BinaryPrimitives.ReadUInt32LittleEndian(Take(4))));
                    break;

                case (byte)'c': // GLOBAL "module\nname\n"
                    string module = ReadLine(), name = ReadLine();
                    Push(ResolveGlobal(module, name));
                    break;
                case 0x93: // STACK_GLOBAL
                    object? stackName = Pop(), stackModule = Pop();
                    Push(stackModule is string m && stackName is string n
                        ? ResolveGlobal(m, n)
                        : throw Error("has a STACK_GLOBAL whose module and name are not strings"));
                    break;
                case (byte)'R': // REDUCE
                    object? arguments = Pop(), callable = Pop();
                    Push(Call(callable, arguments as object?[] ?? throw Error("has a REDUCE whose arguments are not a tuple")));
                    break;
                case (byte)'b': // BUILD: only an OrderedDict's attribute state (a state dict's _metadata), which is dropped
                    Pop();
                    PeekAs<PickleDict>("BUILD");
                    break;
                case (byte)'Q': // BINPERSID
                    Push(PersistentStorage(Pop()));
                    break;

                default:
                    throw Error($"uses pickle opcode 0x{opcode:x2}{OpcodeName(opcode)}, which a torch.save checkpoint never contains; it is refused");
            }
        }
    }

    private object ResolveGlobal(string module, string name)
    {
        string qualified = $"{module}.{name}";
        switch (qualified)
        {
            case "torch._utils._rebuild_tensor_v2":
            case "collections.OrderedDict":
                return new PickleGlobal(qualified);
            case "torch.FloatStorage":
                return TensorDType.Float32;
            case "torch.HalfStorage":
                return TensorDType.Float16;
            case "torch.BFloat16Storage":
                return TensorDType.BFloat16;
        }
        if (module == "torch" && name.EndsWith("Storage", StringComparison.Ordinal) && name.Length > "Storage".Length && name.All(char.IsAsciiLetterOrDigit))
        {
            throw Error($"holds a tensor of storage type '{qualified}'; only float32, float16 and bfloat16 tensors " +
                "(torch.FloatStorage, torch.HalfStorage, torch.BFloat16Storage) can be read");
        }
        throw Error($"refers to the Python global '{qualified}', which is not on the allow-list ({string.Join(", ", AllowedGlobals)}). " +
            "Loading a checkpoint never executes code, so the file was refused");
    }

    private object Call(object? callable, object?[] arguments)
    {
        switch (callable)
        {
            case PickleGlobal { Name: "torch._utils._rebuild_tensor_v2" }:
                return RebuildTensor(arguments);
            case PickleGlobal { Name: "collections.OrderedDict" }:
                return arguments.Length == 0 ? new PickleDict() : throw Error("calls collections.OrderedDict with arguments; only an empty OrderedDict() is supported");
            case TensorDType storage:
                throw Error($"calls the storage class '{StorageClassName(storage)}'. Only torch._utils._rebuild_tensor_v2 and collections.OrderedDict may be called; " +
                    "loading a checkpoint never executes code, so the file was refused");
            default:
                throw Error($"calls a value of type {Describe(callable)} with REDUCE. Only torch._utils._rebuild_tensor_v2 and collections.OrderedDict may be called; " +
                    "loading a checkpoint never executes code, so the file was refused");
        }
    }

    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    private TorchTensorReference RebuildTensor(object?[] a)
    {
        if (a.Length is not (6 or 7))
        {
            throw Error($"calls _rebuild_tensor_v2 with {a.Length} arguments; expected 6 or 7");
        }
        if (a[0] is not TorchStorageReference storage)
        {
            throw Error($"calls _rebuild_tensor_v2 with a {Describe(a[0])} where a storage belongs");
        }
        if (a[1] is not long offset || offset < 0)
        {
            throw Error($"calls _rebuild_tensor_v2 with storage offset {Describe(a[1])}; expected a non-negative integer");
        }
        long[] shape = Integers(a[2], "size"), strides = Integers(a[3], "stride");
        if (shape.Length != strides.Length)
        {
            throw Error($"calls _rebuild_tensor_v2 with {shape.Length} sizes but {strides.Length} strides");
        }
        if (a[4] is not bool || a[5] is not PickleDict || (a.Length == 7 && a[6] is not (null or PickleDict)))
        {
            throw Error("calls _rebuild_tensor_v2 with a requires_grad, backward_hooks or metadata argument of the wrong type");
        }
        return new TorchTensorReference(storage, offset, shape, strides);
    }

    private long[] Integers(object? value, string what)
    {
        if (value is not object?[] tuple)
        {
            throw Error($"calls _rebuild_tensor_v2 with a {what} that is a {Describe(value)}, not a tuple");
        }
        var result = new long[tuple.Length];
        for (int i = 0; i < tuple.Length; i++)
        {
            result[i] = tuple[i] is long v && v >= 0 ? v : throw Error($"calls _rebuild_tensor_v2 with {what} element {Describe(tuple[i])}; expected a non-negative integer");
        }
        return result;
    }

    // ('storage', torch.XStorage, key, location, numel)
    private TorchStorageReference PersistentStorage(object? pid)
    {
        if (pid is not object?[] { Length: 5 } t || t[0] is not "storage")
        {
            throw Error($"has a persistent id {Describe(pid)}; expected ('storage', type, key, location, numel)");
        }
        if (t[1] is not TensorDType dtype || t[2] is not string key || t[3] is not string location || t[4] is not long count || count < 0)
        {
            throw Error("has a persistent storage id whose type, key, location or element count is invalid");
        }
        if (_storages.TryGetValue(key, out TorchStorageReference? known))
        {
            return known.DType == dtype && known.ElementCount == count
                ? known
                : throw Error($"names storage '{key}' twice with different types or sizes");
        }
        var storage = new TorchStorageReference(key, dtype, location, count);
        _storages.Add(key, storage);
        return storage;
    }

    private void SetItems(PickleDict dict, object?[] pairs)
    {
        if (pairs.Length % 2 != 0)
        {
            throw Error("sets a dict from an odd number of keys and values");
        }
        for (int i = 0; i < pairs.Length; i += 2)
        {
            object key = pairs[i] is string or long or bool ? pairs[i]! : throw Error($"uses a {Describe(pairs[i])} as a dict key; only str and int keys are supported");
            dict.Set(key, pairs[i + 1]);
        }
    }

    private object? Recall(long index) =>
        _memo.TryGetValue(index, out object? value) ? value : throw Error($"reads memo entry {index}, which was never stored; it is corrupt");

    private void Push(object? value) => _stack.Add(value);

    private object? Peek() => _stack.Count > (_marks.Count > 0 ? _marks[^1] : 0) ? _stack[^1] : throw Underflow();

    private T PeekAs<T>(string opcode) where T : class =>
        Peek() as T ?? throw Error($"applies {opcode} to a {Describe(_stack[^1])}");

    private object? Pop()
    {
        object? value = Peek();
        _stack.RemoveAt(_stack.Count - 1);
        return value;
    }

    private object?[] PopMany(int count)
    {
        int floor = _marks.Count > 0 ? _marks[^1] : 0;
        if (_stack.Count - floor < count)
        {
            throw Underflow();
        }
        object?[] items = [.. _stack.GetRange(_stack.Count - count, count)];
        _stack.RemoveRange(_stack.Count - count, count);
        return items;
    }

    private object?[] PopMark()
    {
        if (_marks.Count == 0)
        {
            throw Error("closes a MARK that was never opened; it is corrupt");
        }
        int start = _marks[^1];
        _marks.RemoveAt(_marks.Count - 1);
        object?[] items = [.. _stack.GetRange(start, _stack.Count - start)];
        _stack.RemoveRange(start, _stack.Count - start);
        return items;
    }

    private byte ReadByte() => _position < _data.Length ? _data[_position++] : throw Truncated();

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count > _data.Length - _position)
        {
            throw Truncated();
        }
        ReadOnlySpan<byte> bytes = _data.AsSpan(_position, count);
        _position += count;
        return bytes;
    }

    private ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    // A declared length, checked against the remaining bytes before anything is allocated.
    private int ReadLength(ulong declared) => declared <= (ulong)(_data.Length - _position) ? (int)declared : throw Truncated();

    // LONG1/LONG4: little-endian two's complement of n bytes.
    private long ReadLong(int count)
    {
        ReadOnlySpan<byte> bytes = Take(count);
        if (count > 8)
        {
            throw Error($"holds a {count}-byte integer; integers wider than 64 bits are not supported");
        }
        long value = 0;
        for (int i = count - 1; i >= 0; i--)
        {
            value = (value << 8) | bytes[i];
        }
        return count is > 0 and < 8 && (bytes[^1] & 0x80) != 0 ? value - (1L << (8 * count)) : value;
    }

    private string ReadUtf8(int count)
    {
        ReadOnlySpan<byte> bytes = Take(count);
        try
        {
            return new UTF8Encoding(false, true).GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new CheckpointFormatException(_path, null, $"Checkpoint '{_path}' has a string that is not UTF-8 in '{_entry}' at byte {_opcodeStart}.", e);
        }
    }

    private string ReadLine()
    {
        int end = Array.IndexOf(_data, (byte)'\n', _position);
        if (end < 0)
        {
            throw Truncated();
        }
        string line = Encoding.UTF8.GetString(_data, _position, end - _position);
        _position = end + 1;
        return line;
    }

    private static string StorageClassName(TensorDType dtype) => dtype switch
    {
        TensorDType.Float16 => "torch.HalfStorage",
        TensorDType.BFloat16 => "torch.BFloat16Storage",
        _ => "torch.FloatStorage",
    };

    private static string Describe(object? value) => value switch
    {
        null => "None",
        string s => $"str '{(s.Length > 40 ? s[..40] + "..." : s)}'",
        long v => $"int {v}",
        object?[] t => $"tuple of {t.Length}",
        PickleGlobal g => $"global '{g.Name}'",
        TensorDType d => $"storage class '{StorageClassName(d)}'",
        TorchStorageReference => "storage",
        TorchTensorReference => "tensor",
        PickleDict => "dict",
        List<object?> => "list",
        double => "float",
        bool => "bool",
        byte[] => "bytes",
        _ => value.GetType().Name,
    };

    private static string OpcodeName(byte opcode) => opcode switch
    {
        (byte)'c' => " (GLOBAL)",
        0x81 => " (NEWOBJ)",
        0x92 => " (NEWOBJ_EX)",
        (byte)'i' => " (INST)",
        (byte)'o' => " (OBJ)",
        (byte)'P' => " (PERSID)",
        0x82 or 0x83 or 0x84 => " (EXT)",
        (byte)'I' or (byte)'L' or (byte)'F' or (byte)'S' or (byte)'V' or (byte)'p' or (byte)'g' => " (a protocol-0 text opcode)",
        0x96 or 0x97 or 0x98 => " (a protocol-5 buffer opcode)",
        _ => "",
    };

    private CheckpointFormatException Underflow() => Error("pops more values than it pushed; it is corrupt");

    private CheckpointFormatException Truncated() =>
        new(_path, null, $"Checkpoint '{_path}' has a truncated pickle '{_entry}': it ends inside the opcode at byte {_opcodeStart} (of {_data.Length}).");

    private CheckpointFormatException Error(string what) =>
        new(_path, null, $"Checkpoint '{_path}': the pickle '{_entry}' {what} (opcode at byte {_opcodeStart}).");

    /// <summary>An allowed callable, resolved from GLOBAL.</summary>
    private sealed record PickleGlobal(string Name);
}

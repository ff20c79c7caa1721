using System.Globalization;
using Google.Protobuf;
using Rwkv.Onnx.Export.Proto;

namespace Rwkv.Onnx.Export.Graph;

/// <summary>
/// The only owner of a <see cref="GraphProto"/>: name scopes, unique node names, graph I/O with
/// symbolic dimensions, external initializers and a constant cache. A name clash throws.
/// </summary>
internal sealed class OnnxGraph
{
    private readonly GraphProto _proto;
    private readonly List<string> _scopes = [];
    private readonly HashSet<string> _nodeNames = new(StringComparer.Ordinal);
    private readonly HashSet<string> _values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Value> _constants = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Value> _weights = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Value> _stored = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NodeProto> _producers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _renamed = new(StringComparer.Ordinal);
    private readonly ExternalWeights? _externalWeights;
    private readonly OnnxGraph? _parent;

    public OnnxGraph(string name, int opset, ExternalWeights? externalWeights)
    {
        _proto = new GraphProto { Name = name };
        Opset = opset;
        _externalWeights = externalWeights;
    }

    private OnnxGraph(string name, OnnxGraph parent) : this(name, parent.Opset, parent._externalWeights)
    {
        _parent = parent;
        _scopes.AddRange(parent._scopes);
        _scopes.Add(name); // body names must not shadow names of the enclosing graph

    }

    /// <summary>Default-domain opset the graph is built for; ops choose their form by it.</summary>
    public int Opset { get; }

    public GraphProto Proto => _proto;

    /// <summary>
    /// Op types used, with the name of the first node of each, for opset validation. Ops of another domain
    /// than the default are keyed <c>{domain}.{op}</c> (e.g. <c>com.microsoft.MatMulNBits</c>).
    /// </summary>
    public Dictionary<string, string> OpTypes => _parent?.OpTypes ?? _opTypes;

    private readonly Dictionary<string, string> _opTypes = new(StringComparer.Ordinal);

    /// <summary>Pushes a name scope; node names become <c>/{scope}/{op}</c>.</summary>
    public IDisposable Scope(string name)
    {
        _scopes.Add(name);
        return new PopScope(this);
    }

    /// <summary>A subgraph (e.g. a Scan body) that may read values of this graph by name.</summary>
    public OnnxGraph CreateSubgraph(string name) => new(name, this);

    /// <summary>Declares a graph input. Dimensions are <c>long</c> (fixed) or <c>string</c> (symbolic).</summary>
    public Value Input(string name, ElementType type, params object[] dims)
    {
        Define(name);
        _proto.Input.Add(ValueInfo(name, type, dims));
        return new Value(this, name);
    }

    /// <summary>
    /// Declares <paramref name="value"/> as graph output <paramref name="name"/>. A value computed by a node of this
    /// graph is renamed to <paramref name="name"/> (handles to it stay valid), so no Identity copies it at run time;
    /// a graph input, an initializer or a value that is already an output goes through an Identity.
    /// </summary>
    public void Output(Value value, string name, ElementType type, params object[] dims)
    {
        NameOutput(value, name);
        _proto.Output.Add(ValueInfo(name, type, dims));
    }

    private void NameOutput(Value value, string name)
    {
        string current = Resolve(value);
        if (current == name)
        {
            return;
        }
        if (ReferenceEquals(value.Graph, this) && _producers.TryGetValue(current, out NodeProto? producer) && !_proto.Output.Any(o => o.Name == current))
        {
            Define(name);
            producer.Output[producer.Output.IndexOf(current)] = name;
            RenameInputs(_proto, current, name);
            foreach (ValueInfoProto info in _proto.ValueInfo.Where(i => i.Name == current))
            {
                info.Name = name;
            }
            _values.Remove(current);
            _producers.Remove(current);
            _producers.Add(name, producer);
            _renamed.Add(current, name);
            return;
        }
        Node("Identity", [value], outputName: name);
    }

    // Renames the input old to new in every node of graph and of the graphs nested in its nodes (bodies read outer names).
    private static void RenameInputs(GraphProto graph, string old, string @new)
    {
        foreach (NodeProto node in graph.Node)
        {
            for (int i = 0; i < node.Input.Count; i++)
            {
                if (node.Input[i] == old)
                {
                    node.Input[i] = @new;
                }
            }
            foreach (AttributeProto attribute in node.Attribute)
            {
                if (attribute.G is not null)
                {
                    RenameInputs(attribute.G, old, @new);
                }
            }
        }
    }

    // The name value has now: its own, or the graph output name it was renamed to.
    private static string Resolve(Value value) => value.Graph._renamed.TryGetValue(value.Name, out string? name) ? name : value.Name;

    /// <summary>Emits one node and returns its single output.</summary>
    public Value Node(string opType, Value[] inputs, AttributeProto[]? attributes = null, string? outputName = null) =>
        Node(opType, inputs, 1, attributes, outputName is null ? null : [outputName])[0];

    /// <summary>Emits one node of the operator domain <paramref name="domain"/> (e.g. <c>com.microsoft</c>) and returns its single output.</summary>
    public Value DomainNode(string domain, string opType, Value[] inputs, AttributeProto[] attributes) =>
        Node(opType, inputs, 1, attributes, outputNames: null, domain)[0];

    /// <summary>Emits one node with <paramref name="outputCount"/> outputs named <c>{node}/output_{k}</c>.</summary>
    public Value[] Node(string opType, Value[] inputs, int outputCount, AttributeProto[]? attributes = null, string[]? outputNames = null, string domain = "")
    {
        string scope = _scopes.Count == 0 ? "" : "/" + string.Join("/", _scopes);
        string name = $"{scope}/{opType}";
        for (int k = 1; _nodeNames.Contains(name); k++)
        {
            name = $"{scope}/{opType}_{k}";
        }
        _nodeNames.Add(name);
        var node = new NodeProto { Name = name, OpType = opType, Domain = domain };
        foreach (Value input in inputs)
        {
            if (!ReferenceEquals(input.Graph, this) && !IsAncestor(input.Graph))
            {
                throw new InvalidOperationException($"Node '{name}' takes '{input.Name}' from an unrelated graph.");
            }
            string inputName = Resolve(input);
            if (!IsDefined(inputName))
            {
                throw new InvalidOperationException($"Node '{name}' reads '{input.Name}', which is not defined before it.");
            }
            node.Input.Add(inputName);
        }
        if (attributes is not null)
        {
            node.Attribute.AddRange(attributes);
        }
        var outputs = new Value[outputCount];
        for (int k = 0; k < outputCount; k++)
        {
            string output = outputNames?[k] ?? $"{name}/output_{k}";
            Define(output);
            node.Output.Add(output);
            _producers.Add(output, node);
            outputs[k] = new Value(this, output);
        }
        _proto.Node.Add(node);
        OpTypes.TryAdd(domain.Length == 0 ? opType : $"{domain}.{opType}", name);
        return outputs;
    }

    /// <summary>A float32 scalar constant, deduplicated.</summary>
    public Value Const(float value) =>
        Constant($"/constants/FLOAT/{value.ToString("R", CultureInfo.InvariantCulture)}", ElementType.Float, [],
            t => t.FloatData.Add(value));

    /// <summary>A float32 constant of the given shape, filled with <paramref name="value"/>, deduplicated.</summary>
    public Value Const(float value, params long[] shape) =>
        Constant($"/constants/FLOAT/{value.ToString("R", CultureInfo.InvariantCulture)}/{string.Join("x", shape)}", ElementType.Float, shape,
            t => t.FloatData.AddRange(Enumerable.Repeat(value, (int)shape.Aggregate(1L, (a, b) => a * b))));

    /// <summary>An int64 1-D constant, deduplicated.</summary>
    public Value Int64s(params long[] values) =>
        Constant($"/constants/INT64/[{string.Join(",", values)}]", ElementType.Int64, [values.Length], t => t.Int64Data.AddRange(values));

    /// <summary>An int64 scalar constant, deduplicated.</summary>
    public Value Int64(long value) =>
        Constant($"/constants/INT64/{value}", ElementType.Int64, [], t => t.Int64Data.Add(value));

    /// <summary>
    /// The weight <paramref name="name"/> as float32: the stored initializer, through one Cast node per graph
    /// when it is stored as float16 (ONNX Runtime folds that Cast at load).
    /// </summary>
    public Value Weight(string name)
    {
        if (_parent is not null)
        {
            return _parent.Weight(name);
        }
        if (_weights.TryGetValue(name, out Value cached))
        {
            return cached;
        }
        Value value = StoredWeight(name, out ElementType type);
        if (type == ElementType.Float16)
        {
            using (Scope(name))
            {
                value = Ops.Cast(value, ElementType.Float);
            }
        }
        _weights.Add(name, value);
        return value;
    }

    /// <summary>
    /// The weight <paramref name="name"/> as stored (<paramref name="type"/>): an external initializer of the shared
    /// weights file, added on first use. For ops that run in the stored precision (a float16 MatMul, a Gather).
    /// </summary>
    public Value StoredWeight(string name, out ElementType type)
    {
        if (_parent is not null)
        {
            return _parent.StoredWeight(name, out type);
        }
        if (_externalWeights is null)
        {
            throw new InvalidOperationException($"Graph '{_proto.Name}' has no weights; '{name}' is unavailable.");
        }
        ExternalWeight w = _externalWeights.Get(name);
        type = w.Type;
        if (_stored.TryGetValue(name, out Value cached))
        {
            return cached;
        }
        var tensor = new TensorProto { Name = name, DataType = (int)w.Type, DataLocation = TensorProto.Types.DataLocation.External };
        tensor.Dims.AddRange(w.Shape);
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = _externalWeights.FileName });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = w.Offset.ToString(CultureInfo.InvariantCulture) });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = w.Length.ToString(CultureInfo.InvariantCulture) });
        Define(name);
        _proto.Initializer.Add(tensor);
        var value = new Value(this, name);
        _stored.Add(name, value);
        return value;
    }

    /// <summary>The block-quantized form of the linear weight <paramref name="name"/>, if the export stored it so.</summary>
    public bool TryGetQuantized(string name, out QuantizedWeight weight)
    {
        if (_parent is not null)
        {
            return _parent.TryGetQuantized(name, out weight);
        }
        weight = default;
        return _externalWeights?.TryGetQuantized(name, out weight) ?? false;
    }

    /// <summary>The ggml emulation of the linear weight <paramref name="name"/>, if the export stored it for one.</summary>
    public bool TryGetGgmlEmulated(string name, out GgmlEmulatedWeight weight)
    {
        if (_parent is not null)
        {
            return _parent.TryGetGgmlEmulated(name, out weight);
        }
        weight = default;
        return _externalWeights?.TryGetGgmlEmulated(name, out weight) ?? false;
    }

    private Value Constant(string name, ElementType type, long[] shape, Action<TensorProto> fill)
    {
        if (_parent is not null)
        {
            return _parent.Constant(name, type, shape, fill); // bodies read the outer graph's constants
        }
        if (_constants.TryGetValue(name, out Value cached))
        {
            return cached;
        }
        var tensor = new TensorProto { Name = name, DataType = (int)type };
        tensor.Dims.AddRange(shape);
        fill(tensor);
        Define(name);
        _proto.Initializer.Add(tensor);
        var value = new Value(this, name);
        _constants.Add(name, value);
        return value;
    }

    private void Define(string name)
    {
        if (IsDefined(name))
        {
            throw new InvalidOperationException($"Graph '{_proto.Name}' already defines a value named '{name}'.");
        }
        _values.Add(name);
    }

    private bool IsDefined(string name) => _values.Contains(name) || (_parent?.IsDefined(name) ?? false);

    /// <summary>The graph of <paramref name="a"/> or <paramref name="b"/> that is nested in the other (a body inside its outer graph).</summary>
    public static OnnxGraph Innermost(Value a, Value b) => b.Graph.IsAncestor(a.Graph) ? b.Graph : a.Graph;

    private bool IsAncestor(OnnxGraph graph) => _parent is not null && (ReferenceEquals(_parent, graph) || _parent.IsAncestor(graph));

    private static ValueInfoProto ValueInfo(string name, ElementType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (object d in dims)
        {
            shape.Dim.Add(d switch
            {
                string p => new TensorShapeProto.Types.Dimension { DimParam = p },
                int v => new TensorShapeProto.Types.Dimension { DimValue = v },
                long v => new TensorShapeProto.Types.Dimension { DimValue = v },
                _ => throw new ArgumentException($"Dimension '{d}' of '{name}' must be a number or a symbolic name.", nameof(dims)),
            });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    /// <summary>
    /// Records the shape of an intermediate value as value_info, with a symbolic name for each dimension shape
    /// inference cannot name (e.g. the -1 of a Reshape); ONNX Runtime merges it into what it infers. Its memory
    /// planner reuses a freed buffer only for a value of the same shape, and a dimension without a value or a name
    /// matches nothing, so every such buffer stayed on its free list and each allocation searched the whole list:
    /// session creation grew with the square of the graph's size. A name must denote one size throughout the graph.
    /// </summary>
    public Value DeclareShape(Value value, ElementType type, params object[] dims)
    {
        _proto.ValueInfo.Add(ValueInfo(Resolve(value), type, dims));
        return value;
    }

    /// <summary>Declares a subgraph input/output without a shape (Scan bodies).</summary>
    public Value BodyInput(string name, ElementType type)
    {
        Define(name);
        _proto.Input.Add(new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type } } });
        return new Value(this, name);
    }

    /// <summary>Declares a subgraph output without a shape (Scan bodies), renaming or copying the value as <see cref="Output"/> does.</summary>
    public void BodyOutput(Value value, string name, ElementType type)
    {
        NameOutput(value, name);
        _proto.Output.Add(new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type } } });
    }

    private sealed class PopScope(OnnxGraph graph) : IDisposable
    {
        public void Dispose() => graph._scopes.RemoveAt(graph._scopes.Count - 1);
    }

    /// <summary>Serialized size of the graph so far, in bytes.</summary>
    public long SerializedSize => _proto.CalculateSize();
}

using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.Graph;
using static Rwkv.Onnx.Export.Graph.Ops;

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>
/// The skeleton every RWKV version shares: embedding (ln0 folded in), blocks of time mix and channel mix
/// with pre-norms and residuals, ln_out and the LM head. A version overrides only what differs:
/// its state slots, <see cref="PrepareWeights"/>, <see cref="TimeMix"/> and <see cref="ChannelMix"/>.
/// </summary>
internal abstract class RwkvArchitecture(RwkvArchitectureInfo info)
{
    public RwkvArchitectureInfo Info { get; } = info;

    /// <summary>State slots of one layer, in graph I/O order.</summary>
    public abstract IReadOnlyList<StateSlot> StateSlots { get; }

    /// <summary>
    /// Tokens per chunk of the chunked prefill recurrence when the export does not say: 16, where the [L, L, N]
    /// pair-decay forms of RWKV-4/5/6 prefill fastest on the CPU (L = 32 is 15–30 % slower, BENCHMARKS.md).
    /// </summary>
    public virtual int DefaultWkvChunkLength => 16;

    /// <summary>
    /// The intermediate tensors a prefill token keeps alive in the time mix, in multiples of the width C (measured; see
    /// <see cref="ActivationSizes"/>).
    /// </summary>
    public abstract int PrefillTokenWidths { get; }

    /// <summary>Whether the chunked recurrence keeps per-chunk H·N·N state matrices (every version with a matrix state).</summary>
    public virtual bool ChunkKeepsStateMatrices => true;

    /// <summary>Whether the chunked recurrence builds [L, L, C] pair decays (the decay from each position of a chunk to each later one).</summary>
    public virtual bool ChunkKeepsPairDecays => true;

    /// <summary>
    /// For a state that keeps one row per token (RWKV-7b's attention cache): the capacity in tokens and the slot that
    /// counts a sequence's tokens (shape [1]); null for the fixed-size state of every other model.
    /// </summary>
    public virtual (int MaxTokens, string LengthSlot)? TokenCapacity => null;

    /// <summary>Floats of intermediate tensors a decode step adds per sequence beyond the time and channel mixes (e.g. an attention over the cache).</summary>
    public virtual long ExtraStepFloatsPerSequence => 0;

    /// <summary>Floats of intermediate tensors a prefill adds per token beyond the time and channel mixes.</summary>
    public virtual long ExtraPrefillFloatsPerToken => 0;

    /// <summary>Epsilon of ln0/ln1/ln2/ln_out in every published RWKV.</summary>
    protected const float LayerNormEpsilon = 1e-5f;

    /// <summary>Epsilon of the per-head group norm ln_x in the published RWKV-5/6/7 code (64e-5, i.e. 1e-5 after dividing by 8).</summary>
    protected const float PublishedGroupNormEpsilon = 64e-5f;

    /// <summary>Every tensor the version reads, with its canonical shape, for validation before export.</summary>
    private IEnumerable<(string Name, long[] Shape)> ExpectedTensors()
    {
        long c = Info.Embedding;
        yield return ("emb.weight", [Info.Vocab, c]);
        yield return ("blocks.0.ln0.weight", [c]);
        yield return ("blocks.0.ln0.bias", [c]);
        for (int layer = 0; layer < Info.Layers; layer++)
        {
            string p = $"blocks.{layer}.";
            yield return (p + "ln1.weight", [c]);
            yield return (p + "ln1.bias", [c]);
            yield return (p + "ln2.weight", [c]);
            yield return (p + "ln2.bias", [c]);
            foreach ((string Name, long[] Shape) tensor in LayerTensors(layer, p))
            {
                yield return tensor;
            }
        }
        yield return ("ln_out.weight", [c]);
        yield return ("ln_out.bias", [c]);
        yield return ("head.weight", [Info.Vocab, c]);
    }

    /// <summary>The tensors of layer <paramref name="layer"/> beyond ln1 and ln2, with canonical shapes; <paramref name="p"/> is <c>blocks.{layer}.</c>.</summary>
    protected abstract IEnumerable<(string Name, long[] Shape)> LayerTensors(int layer, string p);

    /// <summary>
    /// Checks that every expected tensor is present with its shape, and that the checkpoint holds nothing else: a tensor
    /// the version does not read would be dropped from the export, which then computes another model (issue 21: a
    /// DeepEmbed checkpoint read as plain RWKV-7 is 0.26 off its reference), so it is refused with the unread names.
    /// The only tensors allowed to go unread are <see cref="CheckpointIgnoreList"/>'s, which no inference code reads.
    /// </summary>
    /// <exception cref="CheckpointFormatException">A tensor is missing, has the wrong shape, or would not be read.</exception>
    public void CheckTensors(RwkvCheckpoint c)
    {
        var missing = new List<string>();
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach ((string name, long[] shape) in ExpectedTensors())
        {
            expected.Add(name);
            CheckpointTensor? t = c.Find(name);
            if (t is null)
            {
                missing.Add(name);
            }
            else if (!t.Shape.SequenceEqual(shape))
            {
                throw new CheckpointFormatException(c.Path, name,
                    $"Tensor '{name}' in '{c.Path}' has shape {t.ShapeText}; expected {CheckpointTensor.FormatShape(shape)}.");
            }
        }
        if (missing.Count > 0)
        {
            throw new CheckpointFormatException(c.Path, missing[0],
                $"Checkpoint '{c.Path}' is an RWKV-{Info.Version} model but lacks {missing.Count} tensor(s) it needs: " +
                $"{string.Join(", ", missing.Take(10).Select(m => $"'{m}'"))}{(missing.Count > 10 ? ", ..." : "")}.");
        }
        List<string> unread = [.. c.Tensors.Keys.Where(name => !expected.Contains(name) && !CheckpointIgnoreList.Ignores(name)).Order(StringComparer.Ordinal)];
        if (unread.Count > 0)
        {
            throw new CheckpointFormatException(c.Path, unread[0],
                $"Checkpoint '{c.Path}' holds {unread.Count} tensor(s) that the {Description} architecture does not use: " +
                $"{string.Join(", ", unread.Take(5).Select(m => $"'{m}'"))}{(unread.Count > 5 ? $", ... ({unread.Count - 5} more)" : "")}" +
                $"{UnreadHint(unread)}; exporting without them would compute another model.");
        }
    }

    /// <summary>The architecture as messages name it, e.g. <c>RWKV-7</c>.</summary>
    protected virtual string Description => $"RWKV-{Info.Version}";

    /// <summary>What the unread tensors are, when the version recognises them (e.g. a variant it cannot export), starting with "; "; else empty.</summary>
    protected virtual string UnreadHint(IReadOnlyList<string> unread) => "";

    /// <summary>The tensor <paramref name="name"/>, which must have <paramref name="rank"/> dimensions.</summary>
    /// <exception cref="CheckpointFormatException">Missing, or of another rank.</exception>
    protected static CheckpointTensor Shaped(RwkvCheckpoint c, string name, int rank)
    {
        CheckpointTensor t = c.Get(name);
        if (t.Shape.Count != rank)
        {
            throw new CheckpointFormatException(c.Path, name, $"Tensor '{name}' in '{c.Path}' has shape {t.ShapeText}; expected {rank} dimensions.");
        }
        return t;
    }

    /// <summary>Number of blocks: consecutive <c>blocks.{i}.ln1.weight</c> from 0.</summary>
    protected static int CountLayers(RwkvCheckpoint c)
    {
        int layers = 0;
        while (c.Find($"blocks.{layers}.ln1.weight") is not null)
        {
            layers++;
        }
        return layers;
    }

    /// <summary>Number of tensors <see cref="PrepareWeights"/> writes, for progress.</summary>
    /// <remarks>One prepared tensor per expected tensor, except ln0, which is folded into the embedding.</remarks>
    public virtual int PreparedTensorCount => ExpectedTensors().Count() - 2;

    /// <summary>The graph's token ids ([batch] or [batch, T]) while <see cref="BuildGraph"/> runs, for token-indexed weights.</summary>
    protected Value Tokens { get; private set; }

    /// <summary>Every transpose, reshape and reparametrisation, done once before graph construction.</summary>
    public abstract void PrepareWeights(RwkvCheckpoint checkpoint, WeightSink sink);

    /// <summary>Time mix of one block on the normalised input; returns the residual branch.</summary>
    protected abstract Value TimeMix(RwkvBlock b, Value x);

    /// <summary>Channel mix of one block on the normalised input; returns the residual branch.</summary>
    protected abstract Value ChannelMix(RwkvBlock b, Value x);

    /// <summary>
    /// A residual branch computed from the block's input itself (not normalised), added after the time mix, or null
    /// when the version has none (all but RWKV-7b, whose DeepEmbedAttention reads the raw residual stream).
    /// </summary>
    protected virtual Value? BlockInputBranch(RwkvBlock b, Value x) => null;

    /// <summary>
    /// Builds the step or prefill graph over already-prepared weights; with <paramref name="rescaleEvery"/> &gt; 0 the
    /// residual stream is halved after every that many layers (the weights were scaled to match when prepared).
    /// </summary>
    /// <remarks>
    /// A positive <paramref name="wkvChunkLength"/> gives the prefill graph the chunked-parallel recurrence over chunks of that many tokens.
    /// With <paramref name="genai"/> the graph has onnxruntime-genai's I/O instead of ours: tokens [batch, 1] (step) or
    /// [batch, sequence] (prefill, no num_logits), logits [batch, 1, vocab] of the last position, and each layer's state
    /// packed into two tensors (<see cref="GenaiStatePacking"/>); the architecture in between is the same.
    /// </remarks>
    public OnnxGraph BuildGraph(GraphKind kind, ExternalWeights weights, int opset, int rescaleEvery = 0, int wkvChunkLength = 0, GenaiStatePacking? genai = null)
    {
        var g = new OnnxGraph(kind == GraphKind.Step ? "rwkv_step" : "rwkv_prefill", opset, weights);
        object batch = RwkvContract.BatchDim;
        Value tokens = kind == GraphKind.Step
            ? genai is null ? g.Input(RwkvContract.TokensInput, ElementType.Int64, batch) : Squeeze(g.Input(RwkvContract.TokensInput, ElementType.Int64, batch, 1L), 1)
            : g.Input(RwkvContract.TokensInput, ElementType.Int64, batch, RwkvContract.SequenceDim);
        Tokens = tokens;
        Value numLogits = kind == GraphKind.Prefill && genai is null ? g.Input(RwkvContract.NumLogitsInput, ElementType.Int64) : default;
        var past = new Dictionary<string, Value>[Info.Layers];
        for (int layer = 0; layer < Info.Layers; layer++)
        {
            if (genai is not null)
            {
                past[layer] = genai.DeclarePast(g, layer);
                continue;
            }
            past[layer] = new Dictionary<string, Value>(StringComparer.Ordinal);
            foreach (StateSlot slot in StateSlots)
            {
                past[layer][slot.Name] = g.Input(RwkvContract.PastStateName(slot.Name, layer), ElementType.Float, StateDims(slot));
            }
        }

        Value x;
        using (g.Scope("emb"))
        {
            x = Embedding(g, "emb.weight", tokens);
        }
        var blocks = new RwkvBlock[Info.Layers];
        for (int layer = 0; layer < Info.Layers; layer++)
        {
            var b = new RwkvBlock(g, kind, layer, Info, past[layer], wkvChunkLength);
            using (g.Scope($"blocks.{layer}"))
            {
                Value? inputBranch = BlockInputBranch(b, x);
                using (g.Scope("att"))
                {
                    x = x + TimeMix(b, b.LayerNorm("ln1", x));
                }
                if (inputBranch is Value branch)
                {
                    x = x + branch;
                }
                using (g.Scope("ffn"))
                {
                    x = x + ChannelMix(b, b.LayerNorm("ln2", x));
                }
                if (rescaleEvery > 0 && (layer + 1) % rescaleEvery == 0)
                {
                    x = x * 0.5f;
                }
            }
            blocks[layer] = b;
        }

        using (g.Scope("head"))
        {
            if (genai is not null)
            {
                // Genai reads [batch, 1, vocab] (a static 1) as the last position's logits after a prompt too.
                Value last = kind == GraphKind.Step ? Unsqueeze(Head(g, x), 1) : Head(g, Slice(x, -1, long.MaxValue, axis: 1));
                g.Output(last, RwkvContract.LogitsOutput, ElementType.Float, batch, 1L, Info.Vocab);
            }
            else if (kind == GraphKind.Step)
            {
                g.Output(Head(g, x), RwkvContract.LogitsOutput, ElementType.Float, batch, Info.Vocab);
            }
            else
            {
                // The LM head runs only on the last num_logits positions.
                Value last = Slice(x, Unsqueeze(-numLogits, 0), g.Int64s(long.MaxValue), axis: 1);
                Value all = Head(g, last);
                g.Output(Squeeze(Slice(all, -1, long.MaxValue, axis: 1), 1), RwkvContract.LogitsOutput, ElementType.Float, batch, Info.Vocab);
                g.Output(all, RwkvContract.LogitsAllOutput, ElementType.Float, batch, RwkvContract.NumLogitsInput, Info.Vocab);
            }
        }
        foreach (RwkvBlock b in blocks)
        {
            if (genai is not null)
            {
                CheckWritten(b);
                genai.DeclarePresent(g, b.Layer, b.Present);
                continue;
            }
            foreach (StateSlot slot in StateSlots)
            {
                if (!b.Present.TryGetValue(slot.Name, out Value present))
                {
                    throw new InvalidOperationException($"Layer {b.Layer} never writes state slot '{slot.Name}'.");
                }
                g.Output(present, RwkvContract.PresentStateName(slot.Name, b.Layer), ElementType.Float, StateDims(slot));
            }
        }
        return g;
    }

    private void CheckWritten(RwkvBlock b)
    {
        if (StateSlots.FirstOrDefault(slot => !b.Present.ContainsKey(slot.Name)) is { } missing)
        {
            throw new InvalidOperationException($"Layer {b.Layer} never writes state slot '{missing.Name}'.");
        }
    }

    /// <summary>Graph I/O names in order, as the manifest records them.</summary>
    public (List<string> Inputs, List<string> Outputs) GraphIo(GraphKind kind)
    {
        List<string> inputs = [RwkvContract.TokensInput];
        List<string> outputs = [RwkvContract.LogitsOutput];
        if (kind == GraphKind.Prefill)
        {
            inputs.Add(RwkvContract.NumLogitsInput);
            outputs.Add(RwkvContract.LogitsAllOutput);
        }
        for (int layer = 0; layer < Info.Layers; layer++)
        {
            foreach (StateSlot slot in StateSlots)
            {
                inputs.Add(RwkvContract.PastStateName(slot.Name, layer));
                outputs.Add(RwkvContract.PresentStateName(slot.Name, layer));
            }
        }
        return (inputs, outputs);
    }

    // logits = LN_out(x) · headᵀ
    private Value Head(OnnxGraph g, Value x) =>
        Linear(LayerNorm(x, g.Weight("ln_out.weight"), g.Weight("ln_out.bias"), Info.LayerNormEpsilon), "head.weight");

    private static object[] StateDims(StateSlot slot) => [RwkvContract.BatchDim, .. slot.Shape.Select(d => (object)(long)d)];

    /// <summary>Writes the embedding with ln0 applied to every row, so the graph starts at a Gather; returns that table, [V·C].</summary>
    protected float[] PrepareEmbedding(RwkvCheckpoint checkpoint, WeightSink sink)
    {
        CheckpointTensor emb = checkpoint.Get("emb.weight");
        float[] table = emb.ReadFloat32();
        float[] w = checkpoint.Get("blocks.0.ln0.weight").ReadFloat32();
        float[] bias = checkpoint.Get("blocks.0.ln0.bias").ReadFloat32();
        int c = Info.Embedding;
        for (int row = 0; row < Info.Vocab; row++)
        {
            Span<float> x = table.AsSpan(row * c, c);
            double mean = 0, variance = 0;
            foreach (float v in x)
            {
                mean += v;
            }
            mean /= c;
            foreach (float v in x)
            {
                variance += (v - mean) * (v - mean);
            }
            double scale = 1.0 / Math.Sqrt(variance / c + Info.LayerNormEpsilon);
            for (int i = 0; i < c; i++)
            {
                x[i] = (float)((x[i] - mean) * scale * w[i] + bias[i]);
            }
        }
        sink.Add("emb.weight", table, Info.Vocab, c);
        return table;
    }

    /// <summary>Writes ln_out and the head (transposed to [C, V], or quantized, in the head dtype).</summary>
    protected static void PrepareHead(RwkvCheckpoint checkpoint, WeightSink sink)
    {
        sink.Vector(checkpoint.Get("ln_out.weight"));
        sink.Vector(checkpoint.Get("ln_out.bias"));
        sink.Head(checkpoint.Get("head.weight"));
    }
}

using System.Globalization;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.Graph;
using Rwkv.Onnx.Export.Quantization;

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>
/// Where <see cref="RwkvArchitecture.PrepareWeights"/> puts prepared tensors: vectors stay float32; the
/// weights of linear layers (<see cref="Transposed"/>, <see cref="Head"/>) take the export's weight dtype,
/// block-quantized for int8/int4; other matrices are float16 in fp16 exports and float32 otherwise.
/// Reports progress and honours cancellation per tensor.
/// </summary>
/// <remarks>
/// Quantization is kept to the big projections, whose matmuls dominate time and size. LoRA factors
/// (rank 32–64) are a few percent of the weights, and their tanh/sigmoid-gated outputs drive the decay
/// and in-context rates that the recurrence compounds over every token; the embedding is a Gather of one
/// row per token, where a quantized matmul gains nothing.
/// </remarks>
internal sealed class WeightSink(ExternalWeights weights, ExportOptions options, int rescaleEvery, int layers, int total,
    IProgress<ExportProgress>? progress, CancellationToken cancellationToken)
{
    private readonly ElementType _matrixType = options.WeightDType == WeightDType.Float16 ? ElementType.Float16 : ElementType.Float;
    private readonly QuantLayout? _layout = options.ResolveQuantLayout();
    private int _done;

    /// <summary>Writes <paramref name="data"/> as <paramref name="name"/> with <paramref name="shape"/>.</summary>
    public void Add(string name, float[] data, params long[] shape) =>
        Write(() => weights.Add(name, data, shape, shape.Length >= 2 ? _matrixType : ElementType.Float));

    /// <summary>Writes a checkpoint tensor unchanged in value, flattened to a vector.</summary>
    public void Vector(CheckpointTensor t, string? name = null) => Add(name ?? t.Name, t.ReadFloat32(), t.ElementCount);

    /// <summary>
    /// Writes the weight of a linear layer, PyTorch [out, in], in the export dtype: transposed to [in, out]
    /// (the layout MatMul wants) for float types, or block-quantized along in for int8/int4. With residual
    /// rescaling, a layer's <c>att.output</c> and <c>ffn.value</c> weights are divided by 2^(layer / N) first.
    /// An int4 layer whose role is in <see cref="ExportOptions.Int8Roles"/> is stored at 8 bits; with
    /// <see cref="ExportOptions.EmulatedFormat"/> the weight is rounded through that format first, and marked for ggml's
    /// activation rounding unless <see cref="ExportOptions.EmulatedArithmetic"/> is <see cref="EmulatedArithmetic.WeightsOnly"/>.
    /// </summary>
    public void Transposed(CheckpointTensor t) =>
        Linear(t.Name, t.ReadFloat32(), (int)t.Shape[0], (int)t.Shape[1], LayerDType(t.Name), RescaleFactor(t.Name), options.EmulatedFormat);

    /// <summary>Writes the LM head, PyTorch [vocab, C], like <see cref="Transposed"/> but in the head dtype.</summary>
    public void Head(CheckpointTensor t) => Linear(t.Name, t.ReadFloat32(), (int)t.Shape[0], (int)t.Shape[1], options.ResolvedHeadDType, 1f, null);

    /// <summary>
    /// Writes a LoRA factor that x multiplies as it is ([in, out], no transpose) as <see cref="Matrix"/> does, except
    /// with <see cref="ExportOptions.EmulatedFormat"/>: rwkv.cpp's quantizer takes every 2-D tensor but the embedding,
    /// the head and RWKV-7's LoRA factors, so RWKV-6's <c>time_maa_w1</c> and <c>time_decay_w1/w2</c> are rounded along
    /// in and marked for ggml's arithmetic like a linear layer (graphs multiply them through <see cref="RwkvBlock.Lora"/>).
    /// </summary>
    public void LoraFactor(CheckpointTensor t)
    {
        if (options.EmulatedFormat is not { } format)
        {
            Matrix(t);
            return;
        }
        int k = (int)t.Shape[0], n = (int)t.Shape[1];
        Linear(t.Name, Transpose(t.ReadFloat32(), k, n), n, k, WeightDType.Float32, 1f, format);
    }

    /// <summary>Writes a 2-D matrix as it is.</summary>
    public void Matrix(CheckpointTensor t) => Add(t.Name, t.ReadFloat32(), t.Shape[0], t.Shape[1]);

    // w is [n, k] (PyTorch [out, in]).
    private void Linear(string name, float[] w, int n, int k, WeightDType type, float scale, EmulatedBlockFormat? emulated)
    {
        float[]? minimums = null;
        if (emulated is { } format)
        {
            if (k % 32 != 0)
            {
                throw new InvalidOperationException($"{format} emulation needs input widths that are multiples of 32; '{name}' is {k} wide.");
            }
            // ggml's Q5_1 dot multiplies the block minimums by q8_1's float16 block sums, apart from d·q.
            (w, minimums) = format == EmulatedBlockFormat.Q5_1 && options.EmulatedArithmetic == EmulatedArithmetic.Ggml
                ? GgmlBlockQuantizer.SplitQ5_1(w)
                : (GgmlBlockQuantizer.RoundTrip(w, format), null);
        }
        if (scale != 1f)
        {
            Scale(w, scale);
            Scale(minimums, scale);
        }
        if (emulated is not null && options.EmulatedArithmetic == EmulatedArithmetic.Ggml)
        {
            Write(() => weights.AddGgmlEmulated(name, Transpose(w, n, k), minimums is null ? null : Transpose(minimums, n, k / 32), k, n));
            return;
        }
        Write(() =>
        {
            if (type is WeightDType.Int8 or WeightDType.Int4)
            {
                int bits = type == WeightDType.Int8 ? 8 : 4;
                QuantLayout layout = _layout!;
                BlockQuantized q = BlockQuantizer.Quantize(w, n, k, layout.BlockSize, bits, layout.Rounding);
                weights.AddQuantized(name, q.Codes, q.Scales, k, n, bits, layout.BlockSize, AccuracyLevel(layout.Compute), q.ZeroPoints);
            }
            else
            {
                weights.Add(name, Transpose(w, n, k), [k, n], type == WeightDType.Float16 ? ElementType.Float16 : ElementType.Float);
            }
        });
    }

    // The export dtype, or int8 for an int4 export's layer whose role is kept at 8 bits (ExportOptions.Int8Roles).
    private WeightDType LayerDType(string name)
    {
        if (options.WeightDType != WeightDType.Int4 || _layout!.Int8Roles == QuantRoles.None)
        {
            return options.WeightDType;
        }
        string[] parts = name.Split('.');
        if (parts is not ["blocks", _, _, _, "weight"])
        {
            return options.WeightDType;
        }
        int layer = int.Parse(parts[1], CultureInfo.InvariantCulture);
        QuantRoles role = QuantLayout.RoleOf(parts[2], parts[3]);
        if (layer == 0 || layer == layers - 1)
        {
            role |= QuantRoles.FirstLastLayers;
        }
        return (_layout.Int8Roles & role) != 0 ? WeightDType.Int8 : WeightDType.Int4;
    }

    // 2^-(layer / N) for blocks.{layer}.att.output.weight and blocks.{layer}.ffn.value.weight, the two matmuls that write
    // the residual stream; 1 for everything else (see ExportOptions.ResidualRescaleEvery).
    private float RescaleFactor(string name)
    {
        string[] parts = name.Split('.');
        return rescaleEvery > 0 && parts is ["blocks", _, "att", "output", "weight"] or ["blocks", _, "ffn", "value", "weight"]
            ? MathF.ScaleB(1f, -(int.Parse(parts[1], CultureInfo.InvariantCulture) / rescaleEvery))
            : 1f;
    }

    // MatMulNBits accuracy_level: 4 = int8 activations, 1 = float32.
    private static int AccuracyLevel(QuantizedCompute compute) => compute == QuantizedCompute.Int8 ? 4 : 1;

    private void Write(Action write)
    {
        cancellationToken.ThrowIfCancellationRequested();
        write();
        progress?.Report(new ExportProgress("weights", ++_done, total));
    }

    private static void Scale(float[]? values, float scale)
    {
        for (int i = 0; i < (values?.Length ?? 0); i++)
        {
            values![i] *= scale;
        }
    }

    private static float[] Transpose(float[] m, int rows, int cols)
    {
        var t = new float[m.Length];
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                t[j * rows + i] = m[i * cols + j];
            }
        }
        return t;
    }
}

namespace Rwkv.Onnx.Tests.Parity;

/// <summary>
/// The plain float vector math the RWKV-5/6/7 references share (RWKV-4's reference is generic over the float type
/// and keeps its own). Single precision with double accumulation, written for reading, not speed.
/// </summary>
internal static class ReferenceMath
{
    /// <summary>(x - mean) / sqrt(var + eps) * weight + bias, statistics over all of x.</summary>
    public static float[] LayerNorm(ReadOnlySpan<float> x, float[] weight, float[] bias, float epsilon)
    {
        float[] y = x.ToArray();
        Normalize(y, epsilon);
        for (int i = 0; i < y.Length; i++)
        {
            y[i] = y[i] * weight[i] + bias[i];
        }
        return y;
    }

    /// <summary>In place: x = (x - mean) / sqrt(var + eps), with the biased variance.</summary>
    public static void Normalize(Span<float> x, float epsilon)
    {
        double mean = 0;
        foreach (float value in x)
        {
            mean += value;
        }
        mean /= x.Length;
        double variance = 0;
        foreach (float value in x)
        {
            variance += (value - mean) * (value - mean);
        }
        variance /= x.Length;
        float scale = (float)(1 / Math.Sqrt(variance + epsilon));
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)(x[i] - mean) * scale;
        }
    }

    /// <summary>y = W x, with W stored [out, in] row-major (PyTorch's <c>nn.Linear</c> weight).</summary>
    public static float[] Linear(float[] weight, ReadOnlySpan<float> x)
    {
        int inputs = x.Length, outputs = weight.Length / inputs;
        var y = new float[outputs];
        for (int o = 0; o < outputs; o++)
        {
            ReadOnlySpan<float> row = weight.AsSpan(o * inputs, inputs);
            double sum = 0;
            for (int i = 0; i < inputs; i++)
            {
                sum += (double)row[i] * x[i];
            }
            y[o] = (float)sum;
        }
        return y;
    }

    /// <summary>y = x · M, with x a row vector and M stored [in, out] row-major (the LoRA matrices).</summary>
    public static float[] RowTimesMatrix(float[] x, float[] matrix)
    {
        int inputs = x.Length, outputs = matrix.Length / inputs;
        var y = new float[outputs];
        for (int o = 0; o < outputs; o++)
        {
            double sum = 0;
            for (int i = 0; i < inputs; i++)
            {
                sum += (double)x[i] * matrix[i * outputs + o];
            }
            y[o] = (float)sum;
        }
        return y;
    }

    /// <summary>x + sx * mix: the token-shift interpolation.</summary>
    public static float[] Lerp(float[] x, float[] sx, float[] mix)
    {
        var y = new float[x.Length];
        for (int i = 0; i < y.Length; i++)
        {
            y[i] = x[i] + sx[i] * mix[i];
        }
        return y;
    }

    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    public static float[] Map(float[] x, Func<float, float> f) => Array.ConvertAll(x, f.Invoke);

    public static float[] Add(float[] a, float[] b) => Zip(a, b, static (p, q) => p + q);

    public static float[] Subtract(float[] a, float[] b) => Zip(a, b, static (p, q) => p - q);

    public static float[] Multiply(float[] a, float[] b) => Zip(a, b, static (p, q) => p * q);

    public static float[] Zip(float[] a, float[] b, Func<float, float, float> f)
    {
        var y = new float[a.Length];
        for (int i = 0; i < y.Length; i++)
        {
            y[i] = f(a[i], b[i]);
        }
        return y;
    }

    /// <summary>Each of the n × n matrices in <paramref name="matrices"/> transposed: result[h, j, i] = matrices[h, i, j].</summary>
    public static float[] TransposePerHead(float[] matrices, int n)
    {
        var result = new float[matrices.Length];
        for (int o = 0; o < matrices.Length; o += n * n)
        {
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    result[o + (j * n) + i] = matrices[o + (i * n) + j];
                }
            }
        }
        return result;
    }

    public static void AddInPlace(float[] x, float[] delta)
    {
        for (int i = 0; i < x.Length; i++)
        {
            x[i] += delta[i];
        }
    }
}

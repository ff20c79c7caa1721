namespace Rwkv.Onnx.Exceptions;

/// <summary>
/// A state tensor or the logits hold NaN or an infinity where only finite values make sense: a saved or tuned
/// state that was corrupted, or a model whose arithmetic overflowed (for example an fp16 export).
/// </summary>
public sealed class NonFiniteValueException : RwkvException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="tensorName">The tensor at fault, e.g. <c>past_wkv.3</c>, <c>blocks.3.att.time_state</c> or <c>logits</c>.</param>
    /// <param name="index">The flat index of the first non-finite element in that tensor.</param>
    /// <param name="value">The element: NaN, positive or negative infinity.</param>
    /// <param name="message">A full-sentence message.</param>
    public NonFiniteValueException(string tensorName, long index, float value, string message) : base(message)
    {
        TensorName = tensorName;
        Index = index;
        Value = value;
    }

    /// <summary>The tensor at fault.</summary>
    public string TensorName { get; }

    /// <summary>The flat index of the first non-finite element in <see cref="TensorName"/>.</summary>
    public long Index { get; }

    /// <summary>The element: NaN, positive or negative infinity.</summary>
    public float Value { get; }

    /// <summary>
    /// Throws if <paramref name="values"/> holds a non-finite element, naming <paramref name="tensorName"/> and the
    /// first such index. One vectorized pass, no allocation when every element is finite.
    /// </summary>
    /// <param name="values">The elements to check.</param>
    /// <param name="tensorName">The tensor's name, for the message.</param>
    /// <param name="context">Where the values come from, a phrase completing "… in {context}", e.g. <c>the saved state</c>.</param>
    internal static void ThrowIfAny(ReadOnlySpan<float> values, string tensorName, string context)
    {
        if (System.Numerics.Tensors.TensorPrimitives.IsFiniteAll(values))
        {
            return;
        }
        Throw(values, tensorName, context);
    }

    private static void Throw(ReadOnlySpan<float> values, string tensorName, string context)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
            {
                throw new NonFiniteValueException(tensorName, i, values[i],
                    $"Tensor '{tensorName}' in {context} holds {Describe(values[i])} at index {i} (of {values.Length}); every value must be finite.");
            }
        }
    }

    /// <summary><c>NaN</c>, <c>+Infinity</c> or <c>-Infinity</c>.</summary>
    internal static string Describe(float value) =>
        float.IsNaN(value) ? "NaN" : float.IsPositiveInfinity(value) ? "+Infinity" : "-Infinity";
}

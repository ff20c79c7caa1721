namespace Rwkv.Onnx.Sampling;

/// <summary>
/// The valid ranges of the sampling settings, in one place for <see cref="SamplingSettings"/> and the samplers it
/// creates (<see cref="TopPSampler"/>, <see cref="PenaltyProcessor"/>). Each returns the value or throws
/// <see cref="ArgumentOutOfRangeException"/> naming <c>name</c>.
/// </summary>
internal static class SamplingChecks
{
    public static float Temperature(float value, string name) =>
        float.IsFinite(value) && value >= 0
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number >= 0; got {value}.");

    public static float TopP(float value, string name) =>
        value > 0 && value <= 1
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must be in (0, 1]; got {value}.");

    public static int TopK(int value, string name) =>
        value >= 0
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must be >= 0 (0 = no limit); got {value}.");

    public static float MinP(float value, string name) =>
        value >= 0 && value <= 1
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must be in [0, 1] (0 = off); got {value}.");

    public static float Penalty(float value, string name) =>
        float.IsFinite(value)
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number; got {value}.");

    public static float Decay(float value, string name) =>
        value > 0 && value <= 1
            ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must be in (0, 1]; got {value}.");
}

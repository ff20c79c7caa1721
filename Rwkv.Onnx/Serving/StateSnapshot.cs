using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx.Serving;

/// <summary>
/// An immutable host copy of one sequence's state (and optionally the logits after it): what the engine keeps for named
/// start states and prefix-cache entries. Plain arrays, no ONNX Runtime objects, so it has no lifetime to manage and
/// any number of requests can start from it.
/// </summary>
internal sealed class StateSnapshot
{
    private readonly float[][] _tensors;

    private StateSnapshot(float[][] tensors, float[]? logits)
    {
        _tensors = tensors;
        Logits = logits;
        Bytes = (tensors.Sum(t => (long)t.Length) + (logits?.Length ?? 0)) * sizeof(float);
    }

    /// <summary>The logits after the state's last token, <c>[vocab]</c>; null for a start state (nothing fed yet).</summary>
    public float[]? Logits { get; }

    /// <summary>Bytes of the state and the logits.</summary>
    public long Bytes { get; }

    /// <summary>Copies <paramref name="state"/>, a batch-1 state of <paramref name="model"/>, and <paramref name="logits"/> if given.</summary>
    /// <exception cref="StateMismatchException">The state belongs to another model instance or holds more than one sequence.</exception>
    public static StateSnapshot Capture(RwkvModel model, RwkvState state, ReadOnlySpan<float> logits = default)
    {
        if (!ReferenceEquals(state.Model, model))
        {
            throw new StateMismatchException(model.ModelDirectory, state.Model.ModelDirectory,
                $"The state was created by the model loaded from '{state.Model.ModelDirectory}', not by the engine's model (loaded from '{model.ModelDirectory}').");
        }
        if (state.BatchSize != 1)
        {
            throw new StateMismatchException("batch 1", $"batch {state.BatchSize}",
                $"A start state holds one sequence; this state holds {state.BatchSize}.");
        }
        state.ThrowIfUnusable();
        state.EnterUse();
        try
        {
            float[][] tensors = [.. state.Current.Select(t => (float[])t.Clone())];
            return new StateSnapshot(tensors, logits.IsEmpty ? null : logits.ToArray());
        }
        finally
        {
            state.ExitUse();
        }
    }

    /// <summary>Overwrites <paramref name="state"/>, a batch-1 state of the same model, with this snapshot.</summary>
    public void RestoreInto(RwkvState state)
    {
        state.EnterUse();
        try
        {
            float[][] to = state.HostForOverwrite();
            for (int i = 0; i < to.Length; i++)
            {
                _tensors[i].CopyTo(to[i], 0);
            }
        }
        finally
        {
            state.ExitUse();
        }
    }
}

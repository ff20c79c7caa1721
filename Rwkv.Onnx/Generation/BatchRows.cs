using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx.Generation;

/// <summary>
/// The batch state of the sequences stepped together (<see cref="BatchGenerator"/>, <see cref="Serving.RwkvEngine"/>):
/// row <c>i</c> holds the state of the <c>i</c>-th sequence of the last <see cref="Arrange"/>. Rows are copied into a new
/// state only when the membership changes, so a steady batch reuses one state (and the runner's step binding over it).
/// </summary>
internal sealed class BatchRows : IDisposable
{
    private readonly RwkvModel _model;
    private readonly List<BatchSequence> _rows = [];   // the sequence of each row of _state
    private RwkvState? _state;

    public BatchRows(RwkvModel model) => _model = model;

    /// <summary>
    /// Refuses a batch of <paramref name="rows"/> sequences that could not run: the next step builds a state that large
    /// (beside the current one and the joiners' own states) and binds logits for every row.
    /// </summary>
    /// <exception cref="InvalidOperationException">The logits of that many rows would not fit in one buffer.</exception>
    /// <exception cref="MemoryLimitExceededException">The state and step would not fit in the available memory.</exception>
    public void RequireRoomFor(int rows)
    {
        if ((long)rows * _model.VocabSize > Array.MaxLength)
        {
            throw new InvalidOperationException(
                $"Adding sequence {rows} to the batch would need {(long)rows * _model.VocabSize} logits per step ({rows} × vocabulary {_model.VocabSize}), more than one buffer holds ({Array.MaxLength} floats).");
        }
        AvailableMemory.Require(
            RwkvMemoryEstimate.ForState(_model.Manifest, rows) + RwkvMemoryEstimate.ForStep(_model.Manifest, rows, _model.ActivationsOnHost),
            $"A batch of {rows} sequences");
    }

    /// <summary>
    /// The batch state whose rows are the states of <paramref name="sequences"/>, in order: the current one when the
    /// membership is unchanged, else a new one filled from the current rows and the joiners' own states (which are disposed).
    /// </summary>
    public RwkvState Arrange(IReadOnlyList<BatchSequence> sequences)
    {
        if (_state is not null && SameRows(sequences))
        {
            return _state;
        }
        RwkvState next = _model.CreateState(sequences.Count);
        try
        {
            for (int row = 0; row < sequences.Count; row++)
            {
                BatchSequence sequence = sequences[row];
                if (sequence.PendingState is { } own)
                {
                    next.CopyRowFrom(own, 0, row);
                }
                else
                {
                    next.CopyRowFrom(_state!, _rows.IndexOf(sequence), row); // a joined sequence has a row in the batch state
                }
            }
        }
        catch
        {
            next.Dispose();
            throw;
        }
        foreach (BatchSequence sequence in sequences)
        {
            sequence.PendingState?.Dispose();
            sequence.PendingState = null;
        }
        _state?.Dispose();
        _state = next;
        _rows.Clear();
        _rows.AddRange(sequences);
        return next;
    }

    /// <summary>Forgets the batch state, e.g. after a failed step left its rows undefined; every later sequence must bring its own state.</summary>
    public void Reset()
    {
        _state?.Dispose();
        _state = null;
        _rows.Clear();
    }

    public void Dispose() => Reset();

    private bool SameRows(IReadOnlyList<BatchSequence> sequences)
    {
        if (sequences.Count != _rows.Count)
        {
            return false;
        }
        for (int i = 0; i < sequences.Count; i++)
        {
            if (!ReferenceEquals(sequences[i], _rows[i]))
            {
                return false;
            }
        }
        return true;
    }
}

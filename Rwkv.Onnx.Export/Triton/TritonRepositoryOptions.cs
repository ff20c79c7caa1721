namespace Rwkv.Onnx.Export.Triton;

/// <summary>
/// Settings of a Triton model repository written by <see cref="TritonRepository.Write"/>: the model's name, how many
/// sequences one run batches, how many instances run, and how long an idle sequence keeps its state. Immutable; every
/// value is checked when set.
/// </summary>
public sealed class TritonRepositoryOptions
{
    private readonly string? _modelName;
    private readonly int _maxBatchSize = DefaultMaxBatchSize;
    private readonly int? _maxSequences;
    private readonly int _instances = 1;
    private readonly TimeSpan _sequenceIdleTimeout = DefaultSequenceIdleTimeout;

    /// <summary>The default of <see cref="MaxBatchSize"/>.</summary>
    public const int DefaultMaxBatchSize = 8;

    /// <summary>The default of <see cref="SequenceIdleTimeout"/>: long enough for a chat user to read and type between turns.</summary>
    public static readonly TimeSpan DefaultSequenceIdleTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The model's name in the repository (its directory, and the name clients call); null takes the model directory's
    /// name. Letters, digits, <c>_</c>, <c>-</c> and <c>.</c>, not starting with <c>.</c>.
    /// </summary>
    /// <exception cref="ArgumentException">Empty, or holds another character, or starts with a dot.</exception>
    public string? ModelName
    {
        get => _modelName;
        init
        {
            if (value is not null && !TritonRepository.IsValidModelName(value))
            {
                throw new ArgumentException(
                    $"Model name '{value}' is not usable as a Triton model directory; expected letters, digits, '_', '-' and '.', not starting with '.'.", nameof(ModelName));
            }
            _modelName = value;
        }
    }

    /// <summary>
    /// Triton's <c>max_batch_size</c>: the most sequences one run of the step graph takes (one token each). Triton then
    /// owns the graphs' first (batch) dimension.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Below 1.</exception>
    public int MaxBatchSize
    {
        get => _maxBatchSize;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _maxBatchSize = value;
        }
    }

    /// <summary>
    /// The sequences one model instance keeps at once (<c>oldest.max_candidate_sequences</c>); more wait in Triton's
    /// backlog. Null: four times <see cref="MaxBatchSize"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Below 1.</exception>
    public int? MaxSequences
    {
        get => _maxSequences;
        init
        {
            if (value is { } sequences)
            {
                ArgumentOutOfRangeException.ThrowIfLessThan(sequences, 1);
            }
            _maxSequences = value;
        }
    }

    /// <summary>Model instances (<c>instance_group.count</c>), each with its own ONNX Runtime session, on every GPU or else on the CPU.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Below 1.</exception>
    public int Instances
    {
        get => _instances;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _instances = value;
        }
    }

    /// <summary>
    /// How long a sequence may wait for its next request before Triton drops it and its state
    /// (<c>max_sequence_idle_microseconds</c>).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Below one microsecond.</exception>
    public TimeSpan SequenceIdleTimeout
    {
        get => _sequenceIdleTimeout;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.FromMicroseconds(1));
            _sequenceIdleTimeout = value;
        }
    }

    /// <summary>
    /// Initial values that replace the manifest's for some state tensors, keyed by the state's graph input
    /// (<c>past_wkv.3</c>), each the tensor of one sequence in row-major order (e.g. a state-tuning file's values);
    /// null or missing keys start from the manifest's <c>initial</c>. <see cref="TritonRepository.Write"/> checks each
    /// against the model.
    /// </summary>
    public IReadOnlyDictionary<string, float[]>? InitialStates { get; init; }
}

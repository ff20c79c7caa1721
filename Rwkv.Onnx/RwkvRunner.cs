using System.Numerics.Tensors;
using Microsoft.ML.OnnxRuntime;
using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx;

/// <summary>
/// Feeds tokens through an <see cref="RwkvModel"/>, advancing an <see cref="RwkvState"/> and writing logits
/// into a caller span. Create it with <see cref="RwkvModel.CreateRunner"/>.
/// </summary>
/// <remarks>
/// A runner is not thread-safe: use one per conversation or thread (several runners may share a model). A
/// second thread that calls a forward method while another thread is inside one, or that passes a state
/// another runner is running, gets <see cref="InvalidOperationException"/> instead of mixed results.
/// Disposing the model, the runner or the state during a run on another thread waits for the run to end;
/// later runs throw <see cref="ObjectDisposedException"/>.
/// The step path binds the state's buffers through an <see cref="OrtIoBinding"/> once per state and then
/// allocates nothing per token; using another state object rebuilds the binding. A state kept on the device
/// (<see cref="RwkvStateLocation.Device"/>) is read and written there; only the token ids and logits cross. Prefill allocates its
/// token and logits buffers per chunk. If a run fails, the state holds the result of the runs before it.
/// </remarks>
public sealed class RwkvRunner : IDisposable
{
    private readonly RwkvModel _model;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _prefillInputNames;
    private readonly string[] _prefillLastOutputNames;
    private readonly string[] _prefillAllOutputNames;
    private readonly LifetimeGate _gate;
    private StepBinding? _stepBinding;
    private int _prefillChunkSize;
    private readonly int _lengthTensor = -1; // the manifest state tensor that counts a sequence's tokens, with a context limit

    internal RwkvRunner(RwkvModel model)
    {
        _model = model;
        _gate = new LifetimeGate(this, exclusive: true);
        _prefillChunkSize = model.Options.PrefillChunkSize;
        _prefillInputNames = [RwkvContract.TokensInput, RwkvContract.NumLogitsInput, .. model.StateInputNames];
        _prefillLastOutputNames = [RwkvContract.LogitsOutput, .. model.StateOutputNames];
        _prefillAllOutputNames = [RwkvContract.LogitsAllOutput, .. model.StateOutputNames];
        if (model.Manifest.ContextLimit is { } limit)
        {
            _lengthTensor = model.Manifest.State.ToList().FindIndex(t => t.Layer == 0 && t.Slot == limit.LengthSlot);
        }
    }

    /// <summary>
    /// The most tokens per sequence fed to the prefill graph in one run; longer inputs run in chunks, the
    /// last one shorter. Starts at <see cref="RwkvModelOptions.PrefillChunkSize"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int PrefillChunkSize
    {
        get => _prefillChunkSize;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value, nameof(PrefillChunkSize));
            _prefillChunkSize = value;
        }
    }

    /// <summary>Feeds <paramref name="tokens"/> to one sequence and writes the last token's logits.</summary>
    /// <param name="tokens">Token ids, each in <c>[0, VocabSize)</c>; at least one.</param>
    /// <param name="state">A batch-1 state of this runner's model; advanced in place.</param>
    /// <param name="logits">Receives <see cref="RwkvModel.VocabSize"/> floats.</param>
    /// <param name="mode">Which graph to use; <see cref="RwkvForwardMode.Auto"/> steps a single token and prefills more.</param>
    /// <exception cref="ArgumentException"><paramref name="tokens"/> is empty or <paramref name="logits"/> has the wrong length.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is outside the vocabulary, or <paramref name="mode"/> is undefined.</exception>
    /// <exception cref="StateMismatchException"><paramref name="state"/> belongs to another model or has a batch size other than 1.</exception>
    /// <exception cref="ObjectDisposedException">The runner, the state or the model has been disposed.</exception>
    /// <exception cref="InvalidOperationException">Another thread is using this runner or <paramref name="state"/>.</exception>
    /// <exception cref="NonFiniteValueException">
    /// <see cref="RwkvModelOptions.CheckFiniteLogits"/> is on and a logit is NaN or infinite; the state has advanced.
    /// </exception>
    /// <exception cref="MemoryLimitExceededException">
    /// The run's buffers and activations (<see cref="RwkvMemoryEstimate"/>) would not fit in the available memory; checked
    /// before the first step with a state and before every prefill; nothing has run.
    /// </exception>
    /// <exception cref="ContextLimitExceededException">
    /// The model's state has a token capacity (<see cref="RwkvManifest.ContextLimit"/>) and the run would take a sequence
    /// past it; nothing has run.
    /// </exception>
    /// <exception cref="OnnxRuntimeException">ONNX Runtime failed to run the graph.</exception>
    public void Forward(ReadOnlySpan<int> tokens, RwkvState state, Span<float> logits, RwkvForwardMode mode = RwkvForwardMode.Auto) =>
        Run(tokens, tokens.Length, state, logits, mode, requiredBatchSize: 1, allLogits: false);

    /// <summary>Feeds <paramref name="tokens"/> to one sequence and writes the logits after every token.</summary>
    /// <param name="tokens">Token ids, each in <c>[0, VocabSize)</c>; at least one.</param>
    /// <param name="state">A batch-1 state of this runner's model; advanced in place.</param>
    /// <param name="logits">Receives <c>tokens.Length · VocabSize</c> floats, row <c>i</c> being the logits after token <c>i</c>.</param>
    /// <param name="mode">Which graph to use; <see cref="RwkvForwardMode.Auto"/> steps a single token and prefills more.</param>
    /// <exception cref="ArgumentException"><paramref name="tokens"/> is empty or <paramref name="logits"/> has the wrong length.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is outside the vocabulary, or <paramref name="mode"/> is undefined.</exception>
    /// <exception cref="StateMismatchException"><paramref name="state"/> belongs to another model or has a batch size other than 1.</exception>
    /// <exception cref="ObjectDisposedException">The runner, the state or the model has been disposed.</exception>
    /// <exception cref="InvalidOperationException">Another thread is using this runner or <paramref name="state"/>.</exception>
    /// <exception cref="NonFiniteValueException">
    /// <see cref="RwkvModelOptions.CheckFiniteLogits"/> is on and a logit is NaN or infinite; the state has advanced.
    /// </exception>
    /// <exception cref="MemoryLimitExceededException">
    /// The run's buffers and activations (<see cref="RwkvMemoryEstimate"/>) would not fit in the available memory; checked
    /// before the first step with a state and before every prefill; nothing has run.
    /// </exception>
    /// <exception cref="ContextLimitExceededException">
    /// The model's state has a token capacity (<see cref="RwkvManifest.ContextLimit"/>) and the run would take a sequence
    /// past it; nothing has run.
    /// </exception>
    /// <exception cref="OnnxRuntimeException">ONNX Runtime failed to run the graph.</exception>
    public void ForwardAll(ReadOnlySpan<int> tokens, RwkvState state, Span<float> logits, RwkvForwardMode mode = RwkvForwardMode.Auto) =>
        Run(tokens, tokens.Length, state, logits, mode, requiredBatchSize: 1, allLogits: true);

    /// <summary>Feeds <c>state.BatchSize</c> sequences of equal length and writes each one's last logits.</summary>
    /// <param name="tokens">Token ids, row-major <c>[state.BatchSize, sequenceLength]</c>, each in <c>[0, VocabSize)</c>.</param>
    /// <param name="sequenceLength">Tokens per sequence; at least 1.</param>
    /// <param name="state">A state of this runner's model; all its sequences advance in place.</param>
    /// <param name="logits">Receives <c>state.BatchSize · VocabSize</c> floats, row <c>b</c> for sequence <c>b</c>.</param>
    /// <param name="mode">Which graph to use; <see cref="RwkvForwardMode.Auto"/> steps when <paramref name="sequenceLength"/> is 1 and prefills otherwise.</param>
    /// <exception cref="ArgumentException"><paramref name="tokens"/> or <paramref name="logits"/> has the wrong length.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is outside the vocabulary, <paramref name="sequenceLength"/> is less than 1, or <paramref name="mode"/> is undefined.</exception>
    /// <exception cref="StateMismatchException"><paramref name="state"/> belongs to another model.</exception>
    /// <exception cref="ObjectDisposedException">The runner, the state or the model has been disposed.</exception>
    /// <exception cref="InvalidOperationException">Another thread is using this runner or <paramref name="state"/>.</exception>
    /// <exception cref="NonFiniteValueException">
    /// <see cref="RwkvModelOptions.CheckFiniteLogits"/> is on and a logit is NaN or infinite; the state has advanced.
    /// </exception>
    /// <exception cref="MemoryLimitExceededException">
    /// The run's buffers and activations (<see cref="RwkvMemoryEstimate"/>) would not fit in the available memory; checked
    /// before the first step with a state and before every prefill; nothing has run.
    /// </exception>
    /// <exception cref="ContextLimitExceededException">
    /// The model's state has a token capacity (<see cref="RwkvManifest.ContextLimit"/>) and the run would take a sequence
    /// past it; nothing has run.
    /// </exception>
    /// <exception cref="OnnxRuntimeException">ONNX Runtime failed to run the graph.</exception>
    public void ForwardBatch(ReadOnlySpan<int> tokens, int sequenceLength, RwkvState state, Span<float> logits,
        RwkvForwardMode mode = RwkvForwardMode.Auto)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sequenceLength);
        Run(tokens, sequenceLength, state, logits, mode, requiredBatchSize: null, allLogits: false);
    }

    /// <summary>
    /// Releases the bindings and buffers. Safe to call more than once, from any thread, before or after disposing
    /// the model and the states; a call that races with a run on another thread waits for it to end.
    /// </summary>
    public void Dispose()
    {
        if (!_gate.Close())
        {
            return;
        }
        _stepBinding?.Dispose();
        _stepBinding = null;
        _runOptions.Dispose();
    }

    private void Run(ReadOnlySpan<int> tokens, int sequenceLength, RwkvState state, Span<float> logits, RwkvForwardMode mode,
        int? requiredBatchSize, bool allLogits)
    {
        ArgumentNullException.ThrowIfNull(state);
        // Runner, state, model: each gate makes a racing Dispose wait for this run, and the exclusive
        // runner and state gates turn concurrent use of one conversation into an error.
        _gate.Enter();
        try
        {
            state.EnterUse();
            try
            {
                _model.EnterRun();
                try
                {
                    Validate(tokens, sequenceLength, state, logits, mode, requiredBatchSize, allLogits);
                    bool step = mode == RwkvForwardMode.Step || (mode == RwkvForwardMode.Auto && sequenceLength == 1);
                    if (step)
                    {
                        RunSteps(tokens, sequenceLength, state, logits, allLogits);
                    }
                    else
                    {
                        RunPrefill(tokens, sequenceLength, state, logits, allLogits);
                    }
                    if (_model.Options.CheckFiniteLogits && !TensorPrimitives.IsFiniteAll<float>(logits))
                    {
                        throw NonFiniteLogits(logits, tokens, sequenceLength, state.BatchSize, allLogits);
                    }
                }
                finally
                {
                    _model.ExitRun();
                }
            }
            finally
            {
                state.ExitUse();
            }
        }
        finally
        {
            _gate.Exit();
        }
    }

    // Names the first bad logit by the token it follows: rows are positions with allLogits (batch 1), else sequences at
    // their last position.
    private NonFiniteValueException NonFiniteLogits(ReadOnlySpan<float> logits, ReadOnlySpan<int> tokens, int sequenceLength, int batchSize, bool allLogits)
    {
        int vocab = _model.VocabSize;
        int index = 0;
        while (float.IsFinite(logits[index]))
        {
            index++;
        }
        int row = index / vocab;
        int sequence = allLogits ? 0 : row;
        int position = allLogits ? row : sequenceLength - 1;
        int id = tokens[(sequence * sequenceLength) + position];
        string where = batchSize == 1 ? $"position {position}" : $"position {position} of sequence {sequence}";
        return new NonFiniteValueException(RwkvContract.LogitsOutput, index, logits[index],
            $"The model loaded from '{_model.ModelDirectory}' produced {NonFiniteValueException.Describe(logits[index])} at logit {index % vocab} " +
            $"(of {vocab}) after the token at {where} (id {id}; positions count from 0, {sequenceLength} tokens); every logit must be finite: " +
            "the weights are corrupted or the arithmetic overflowed.");
    }

    private void Validate(ReadOnlySpan<int> tokens, int sequenceLength, RwkvState state, ReadOnlySpan<float> logits,
        RwkvForwardMode mode, int? requiredBatchSize, bool allLogits)
    {
        state.ThrowIfUnusable();
        if (!Enum.IsDefined(mode))
        {
            throw new ArgumentOutOfRangeException(nameof(mode), mode, $"{mode} is not a defined {nameof(RwkvForwardMode)}.");
        }
        if (!ReferenceEquals(state.Model, _model))
        {
            throw new StateMismatchException(_model.ModelDirectory, state.Model.ModelDirectory,
                $"The state was created by the model loaded from '{state.Model.ModelDirectory}', not by this runner's model (loaded from '{_model.ModelDirectory}').");
        }
        if (requiredBatchSize is int batchSize && state.BatchSize != batchSize)
        {
            throw new StateMismatchException($"batch {batchSize}", $"batch {state.BatchSize}",
                $"The state holds {state.BatchSize} sequences; this call needs a state of batch size {batchSize}.");
        }
        if (tokens.IsEmpty)
        {
            throw new ArgumentException("At least one token is required.", nameof(tokens));
        }
        if (tokens.Length != (long)state.BatchSize * sequenceLength)
        {
            throw new ArgumentException(
                $"Expected {state.BatchSize} × {sequenceLength} tokens (batch size × sequence length); got {tokens.Length}.", nameof(tokens));
        }
        int vocab = _model.VocabSize;
        for (int i = 0; i < tokens.Length; i++)
        {
            if ((uint)tokens[i] >= (uint)vocab)
            {
                string where = state.BatchSize == 1 ? $"position {i}" : $"position {i} (sequence {i / sequenceLength}, token {i % sequenceLength})";
                throw new ArgumentOutOfRangeException(nameof(tokens), tokens[i],
                    $"Token id {tokens[i]} at {where} is outside the vocabulary: ids must be in [0, {vocab}).");
            }
        }
        long expectedLogits = (long)state.BatchSize * vocab * (allLogits ? sequenceLength : 1);
        if (logits.Length != expectedLogits)
        {
            throw new ArgumentException($"The logits span has {logits.Length} floats; expected {expectedLogits}.", nameof(logits));
        }
        CheckContextLimit(sequenceLength, state);
    }

    // A state with a token capacity counts each sequence's tokens in its length slot (one float per sequence, exact up
    // to 2^24); the graphs would write past the capacity, so a run that would is refused here, before anything runs.
    private void CheckContextLimit(int sequenceLength, RwkvState state)
    {
        if (_model.Manifest.ContextLimit is not { } limit)
        {
            return;
        }
        float[] lengths = state.Current[_lengthTensor];
        for (int sequence = 0; sequence < state.BatchSize; sequence++)
        {
            long held = (long)lengths[sequence];
            if (held + sequenceLength > limit.MaxTokens)
            {
                string which = state.BatchSize == 1 ? "The sequence" : $"Sequence {sequence}";
                throw new ContextLimitExceededException(limit.MaxTokens, held, sequenceLength,
                    $"{which} holds {held} tokens and this run adds {sequenceLength}, past the {limit.MaxTokens}-token capacity of the state of the model " +
                    $"loaded from '{_model.ModelDirectory}' (its attention cache keeps every token; context_limit.max_tokens in the manifest): " +
                    "export it with a larger --context-limit, or reset the state.");
            }
        }
    }

    // One step.onnx run per position: every sequence's token at that position, through the cached
    // binding that reads the current buffer set and writes the other one.
    private void RunSteps(ReadOnlySpan<int> tokens, int sequenceLength, RwkvState state, Span<float> logits, bool allLogits)
    {
        if (_stepBinding?.State != state)
        {
            _stepBinding?.Dispose();
            _stepBinding = null;
            _model.RequireMemory(RwkvMemoryEstimate.ForStep(_model.Manifest, state.BatchSize, _model.ActivationsOnHost), prefill: false,
                $"A decode step of {state.BatchSize} sequences");
            _stepBinding = new StepBinding(_model, state);
        }
        StepBinding binding = _stepBinding;
        InferenceSession session = _model.StepSession;
        int vocab = _model.VocabSize;
        for (int position = 0; position < sequenceLength; position++)
        {
            for (int sequence = 0; sequence < state.BatchSize; sequence++)
            {
                binding.Tokens[sequence] = tokens[(sequence * sequenceLength) + position];
            }
            int set = state.CurrentSet;
            binding.PrepareInputs(set, state.PastOnDevice);
            session.RunWithBinding(_runOptions, binding.From(set));
            state.CompleteRun();
            if (allLogits)
            {
                binding.Logits.CopyTo(logits.Slice(position * vocab, vocab));
            }
        }
        if (!allLogits)
        {
            binding.Logits.CopyTo(logits);
        }
    }

    // One prefill.onnx run per chunk of up to PrefillChunkSize positions of every sequence.
    private void RunPrefill(ReadOnlySpan<int> tokens, int sequenceLength, RwkvState state, Span<float> logits, bool allLogits)
    {
        InferenceSession session = _model.PrefillSession;
        int batch = state.BatchSize;
        int vocab = _model.VocabSize;
        int longest = Math.Min(_prefillChunkSize, sequenceLength);
        _model.RequireMemory(RwkvMemoryEstimate.ForPrefill(_model.Manifest, batch, longest, allLogits, _model.ActivationsOnHost), prefill: true,
            $"A prefill of {batch} sequences in chunks of {longest} tokens");
        for (int start = 0; start < sequenceLength; start += _prefillChunkSize)
        {
            int length = Math.Min(_prefillChunkSize, sequenceLength - start);
            var chunk = new long[batch * length];
            for (int sequence = 0; sequence < batch; sequence++)
            {
                for (int i = 0; i < length; i++)
                {
                    chunk[(sequence * length) + i] = tokens[(sequence * sequenceLength) + start + i];
                }
            }
            int numLogits = allLogits ? length : 1;
            var chunkLogits = new float[batch * numLogits * vocab];
            long[] logitsShape = allLogits ? [batch, numLogits, vocab] : [batch, vocab];

            using OrtValue tokensValue = OrtValue.CreateTensorValueFromMemory(chunk, [batch, length]);
            using OrtValue numLogitsValue = OrtValue.CreateTensorValueFromMemory(new long[] { numLogits }, []);
            using OrtValue logitsValue = OrtValue.CreateTensorValueFromMemory(chunkLogits, logitsShape);
            OrtValue[] inputs = [tokensValue, numLogitsValue, .. state.PastValues];
            OrtValue[] outputs = [logitsValue, .. state.PresentValues(state.CurrentSet)];
            session.Run(_runOptions, _prefillInputNames, inputs, allLogits ? _prefillAllOutputNames : _prefillLastOutputNames, outputs);
            state.CompleteRun();

            if (allLogits)
            {
                chunkLogits.CopyTo(logits.Slice(start * vocab)); // batch 1: [1, length, vocab] is contiguous
            }
            else if (start + length == sequenceLength)
            {
                chunkLogits.CopyTo(logits);
            }
        }
    }

    /// <summary>
    /// Step-graph buffers and bindings for one state: <c>tokens</c> long[batch] and <c>logits</c>
    /// float[batch·vocab] owned here, and two bindings, set 0 → 1 and set 1 → 0, over the state's buffers
    /// (its device tensors when it lives on the device; the logits always come back to the host).
    /// </summary>
    private sealed class StepBinding : IDisposable
    {
        private readonly RwkvModel _model;
        private readonly List<IDisposable> _owned = [];
        private readonly OrtValue _tokensValue;
        private readonly OrtValue _logitsValue;
        private readonly OrtIoBinding[] _bindings = new OrtIoBinding[2];
        private readonly bool?[] _inputsOnDevice = new bool?[2]; // which copy of the past state each binding reads
        private bool _deviceLease;

        public StepBinding(RwkvModel model, RwkvState state)
        {
            _model = model;
            State = state;
            Tokens = new long[state.BatchSize];
            Logits = new float[state.BatchSize * model.VocabSize];
            try
            {
                if (model.StateOnDevice)
                {
                    // The bindings keep references to device tensors: the allocator must outlive them.
                    model.AddDeviceLease();
                    _deviceLease = true;
                }
                _tokensValue = Own(OrtValue.CreateTensorValueFromMemory(Tokens, [state.BatchSize]));
                _logitsValue = Own(OrtValue.CreateTensorValueFromMemory(Logits, [state.BatchSize, model.VocabSize]));
                for (int set = 0; set < 2; set++)
                {
                    _bindings[set] = Own(model.StepSession.CreateIoBinding());
                    _bindings[set].BindOutput(RwkvContract.LogitsOutput, _logitsValue);
                    OrtValue[] presents = state.PresentValues(set);
                    for (int i = 0; i < presents.Length; i++)
                    {
                        _bindings[set].BindOutput(model.StateOutputNames[i], presents[i]);
                    }
                }
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        public RwkvState State { get; }

        public long[] Tokens { get; }

        public float[] Logits { get; }

        /// <summary>The binding that reads buffer set <paramref name="set"/> and writes the other.</summary>
        public OrtIoBinding From(int set) => _bindings[set];

        /// <summary>
        /// Binds <c>tokens</c> and the past state of buffer set <paramref name="set"/> (the device copy when
        /// <paramref name="onDevice"/>) unless the binding already reads them and the provider keeps bound values.
        /// </summary>
        public void PrepareInputs(int set, bool onDevice)
        {
            if (_inputsOnDevice[set] == onDevice && !_model.RebindInputsEachRun)
            {
                return;
            }
            _bindings[set].BindInput(RwkvContract.TokensInput, _tokensValue);
            OrtValue[] pasts = onDevice ? State.DeviceValues(set) : State.HostValues(set);
            for (int i = 0; i < pasts.Length; i++)
            {
                _bindings[set].BindInput(_model.StateInputNames[i], pasts[i]);
            }
            _inputsOnDevice[set] = onDevice;
        }

        public void Dispose()
        {
            for (int i = _owned.Count - 1; i >= 0; i--)
            {
                _owned[i].Dispose();
            }
            _owned.Clear();
            if (_deviceLease)
            {
                _deviceLease = false;
                _model.RemoveDeviceLease();
            }
        }

        private T Own<T>(T disposable) where T : IDisposable
        {
            _owned.Add(disposable);
            return disposable;
        }
    }
}

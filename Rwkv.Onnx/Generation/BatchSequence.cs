using System.Diagnostics;
using System.Numerics.Tensors;
using System.Text;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Sampling;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Generation;

/// <summary>
/// One sequence of a <see cref="BatchGenerator"/>: its prompt, options (sampling, stops, budget), its own sampler, the text and tokens
/// generated so far and, once it has left the batch, its <see cref="Result"/>.
/// </summary>
/// <remarks>Created by <see cref="BatchGenerator.Add"/>; read it from the thread that drives the generator.</remarks>
public sealed class BatchSequence
{
    private readonly ISampler _sampler;
    private readonly HashSet<int> _stopTokens;
    private readonly StreamingDecoder _decoder;
    private readonly StopStringMatcher _stopStrings;
    private readonly Action<string>? _onText;
    private readonly StringBuilder _text = new();
    private readonly List<int> _tokens = [];
    private readonly long _decodeStart;

    internal BatchSequence(int id, ByteLevelTokenizer tokenizer, GenerationOptions options, Action<string>? onText,
        RwkvState prefilledState, float[] logits, int promptTokenCount, TimeSpan prefillTime)
    {
        Id = id;
        Options = options;
        _sampler = options.CreateSampler();   // its own, even when other sequences share the options
        _stopTokens = [.. options.StopTokens];
        if (options.StopAtEndOfText && tokenizer.EndOfTextId is int endOfText)
        {
            _stopTokens.Add(endOfText);
        }
        _decoder = tokenizer.CreateStreamingDecoder();
        _stopStrings = new StopStringMatcher(options.StopStrings);
        _onText = onText;
        PendingState = prefilledState;
        Logits = logits;
        PromptTokenCount = promptTokenCount;
        PrefillTime = prefillTime;
        _decodeStart = Stopwatch.GetTimestamp();
    }

    /// <summary>The order in which the sequence was added, from 0.</summary>
    public int Id { get; }

    /// <summary>The sequence's options.</summary>
    public GenerationOptions Options { get; }

    /// <summary>Tokens in the prompt.</summary>
    public int PromptTokenCount { get; }

    /// <summary>The final text so far (never a split character or part of a stop string).</summary>
    public string Text => _text.ToString();

    /// <summary>The generated tokens so far.</summary>
    public IReadOnlyList<int> Tokens => _tokens;

    /// <summary>Whether the sequence has left the batch.</summary>
    public bool IsFinished => Result is not null;

    /// <summary>The outcome once the sequence has left the batch; null before.</summary>
    public GenerationResult? Result { get; private set; }

    internal TimeSpan PrefillTime { get; }

    /// <summary>The sequence's own state after its prefill, until it joins the batch state (then null).</summary>
    internal RwkvState? PendingState { get; set; }

    /// <summary>The logits after the last token fed, <c>[vocab]</c>.</summary>
    internal float[] Logits { get; }

    /// <summary>Chooses the next token; returns -1 when the sequence ends instead (budget or stop token).</summary>
    internal int NextToken()
    {
        if (_tokens.Count >= Options.MaxTokens)
        {
            Finish(GenerationStopReason.MaxTokens);
            return -1;
        }
        if (!TensorPrimitives.IsFiniteAll<float>(Logits))
        {
            NonFiniteValueException.ThrowIfAny(Logits, RwkvContract.LogitsOutput,
                $"the model's output for batch sequence {Id} before generated token {_tokens.Count} (the arithmetic overflowed or the weights are corrupted)");
        }
        int token = _sampler.Sample(Logits);
        if (_stopTokens.Contains(token))
        {
            Finish(GenerationStopReason.StopToken);
            return -1;
        }
        _sampler.Accept(token);
        _tokens.Add(token);
        return token;
    }

    /// <summary>Decodes the token the batch step fed (its logits are in <see cref="Logits"/>); ends the sequence at a stop string.</summary>
    internal void AfterStep(int token)
    {
        Emit(_stopStrings.Push(_decoder.Append(token)));
        if (_stopStrings.Stopped)
        {
            Result = CreateResult(GenerationStopReason.StopString);
        }
    }

    /// <summary>Ends the sequence: flushes held text and records the result.</summary>
    internal void Finish(GenerationStopReason reason)
    {
        if (IsFinished)
        {
            return;
        }
        Emit(_stopStrings.Push(_decoder.Flush()));
        if (_stopStrings.Stopped)
        {
            reason = GenerationStopReason.StopString;
        }
        Emit(_stopStrings.Flush());
        Result = CreateResult(reason);
    }

    private void Emit(string piece)
    {
        if (piece.Length > 0)
        {
            _text.Append(piece);
            _onText?.Invoke(piece);
        }
    }

    private GenerationResult CreateResult(GenerationStopReason reason) =>
        new(_text.ToString(), [.. _tokens], PromptTokenCount, PrefillTime, Stopwatch.GetElapsedTime(_decodeStart), reason);
}

namespace Rwkv.Onnx.Serving;

/// <summary>What the engine's loop did, for tests of its scheduling (<see cref="RwkvEngine.LoopEvent"/>).</summary>
/// <param name="Kind">A prefill slice of one request or a decode step of several.</param>
/// <param name="SequenceIds">The requests involved (<see cref="EngineSequence.Id"/>), in row order for a decode step.</param>
/// <param name="Tokens">Prompt tokens fed (a slice) or rows stepped (a decode step).</param>
internal sealed record EngineLoopEvent(EngineLoopEventKind Kind, long[] SequenceIds, int Tokens);

/// <summary>The kinds of <see cref="EngineLoopEvent"/>.</summary>
internal enum EngineLoopEventKind
{
    PrefillSlice,
    DecodeStep,
}

using Rwkv.Onnx.Serving;

namespace Rwkv.Onnx.Server.Requests;

/// <summary>How a sequence ended for the server: its result, or null when the deadline (disconnect or time limit) cancelled it.</summary>
/// <param name="Result">The engine's result; null when cancelled.</param>
/// <param name="Tokens">Tokens read before the end.</param>
internal sealed record SequenceOutcome(EngineResult? Result, int Tokens);

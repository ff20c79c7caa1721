namespace Rwkv.Onnx;

/// <summary>
/// How to generate text with an exported model, for clients that do not use our runtime (the counterpart of Hugging
/// Face's <c>generation_config.json</c> and the chat template of <c>tokenizer_config.json</c>).
/// </summary>
public sealed record RwkvGenerationInfo
{
    /// <summary>The tokenizer's end-of-text token id (0 for World and GPT-NeoX), or null when it has none (byte-level, unknown).</summary>
    public int? EndOfTextId { get; init; }

    /// <summary>Token ids that end a generation when sampled (not fed to the model, not shown); empty when none.</summary>
    public required IReadOnlyList<int> StopTokenIds { get; init; }

    /// <summary>The turn format of a chat with this model (what <c>rwkv-onnx chat</c> uses by default).</summary>
    public required RwkvChatTemplateInfo ChatTemplate { get; init; }

    /// <summary>Recommended sampling settings.</summary>
    public required RwkvSamplingPresets Sampling { get; init; }
}

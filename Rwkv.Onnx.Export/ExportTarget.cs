namespace Rwkv.Onnx.Export;

/// <summary>Which runtime an export is for (<see cref="ExportOptions.Target"/>).</summary>
public enum ExportTarget
{
    /// <summary>This library's runtime (and any ONNX Runtime client reading the manifest): step, prefill and state-copy graphs with one input per state slot, and <c>rwkv-manifest.json</c>.</summary>
    Rwkv,

    /// <summary>
    /// onnxruntime-genai (0.20.0 and later), unchanged: a <c>decoder-pipeline</c> of the prefill graph (the prompt) and the
    /// step graph (each new token), each layer's state packed into genai's <c>conv_state</c> and <c>recurrent_state</c>,
    /// logits <c>[batch, 1, vocab]</c>, <c>genai_config.json</c> and, for byte-level and GPT-NeoX vocabularies,
    /// <c>tokenizer.json</c> and <c>tokenizer_config.json</c>. No manifest: this library's runtime does not load it.
    /// </summary>
    Genai,
}

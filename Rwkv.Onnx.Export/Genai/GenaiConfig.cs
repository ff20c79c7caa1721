using System.Text.Json;
using System.Text.Json.Nodes;

namespace Rwkv.Onnx.Export.Genai;

/// <summary>
/// Writes <c>genai_config.json</c> for an <see cref="ExportTarget.Genai"/> export: a <c>decoder-pipeline</c> whose
/// prefill graph runs the prompt (in one call) and whose step graph runs each generated token, as onnxruntime-genai
/// 0.20.0 reads it (src/config.cpp). Genai derives its recurrent-state names from the key-cache templates
/// (<c>past_key_values.%d.key</c> gives <c>past_key_values.%d.conv_state</c>); no graph has key or value inputs, so it
/// keeps no KV cache, and no attention mask or position ids.
/// </summary>
internal static class GenaiConfig
{
    /// <summary>The file genai opens in a model directory.</summary>
    public const string File = "genai_config.json";

    /// <summary>
    /// The length genai sizes its token buffers for (<c>context_length</c>, the default <c>max_length</c>): an RNN has no
    /// context limit, so this only bounds one generation (prompt plus output) to 64 Ki tokens.
    /// </summary>
    public const int ContextLength = 65536;

    /// <summary>Writes the file into <paramref name="directory"/>.</summary>
    /// <param name="directory">The model directory being written.</param>
    /// <param name="info">The architecture (layers, width, heads, vocabulary).</param>
    /// <param name="endOfText">
    /// The end-of-text token; null for a vocabulary without one (byte level), written as the last id: genai requires one
    /// within the vocabulary, and for bytes that is 0xFF, which UTF-8 text never holds (0, NUL, is a byte models emit).
    /// </param>
    /// <param name="prefill">The prefill graph's file, inputs and outputs.</param>
    /// <param name="step">The step graph's file, inputs and outputs.</param>
    public static void Write(string directory, RwkvArchitectureInfo info, int? endOfText, RwkvGraphInfo prefill, RwkvGraphInfo step)
    {
        int eos = endOfText ?? info.Vocab - 1;
        var config = new JsonObject
        {
            ["model"] = new JsonObject
            {
                ["type"] = "decoder-pipeline",
                ["vocab_size"] = info.Vocab,
                ["context_length"] = ContextLength,
                ["bos_token_id"] = eos,
                ["eos_token_id"] = eos,
                ["pad_token_id"] = eos,
                ["decoder"] = new JsonObject
                {
                    ["session_options"] = new JsonObject { ["log_id"] = "onnxruntime-genai", ["provider_options"] = new JsonArray() },
                    ["hidden_size"] = info.Embedding,
                    ["num_attention_heads"] = info.Heads,
                    ["num_key_value_heads"] = info.Heads,
                    ["head_size"] = info.HeadSize,
                    ["num_hidden_layers"] = info.Layers,
                    ["inputs"] = new JsonObject
                    {
                        ["input_ids"] = RwkvContract.TokensInput,
                        ["past_key_names"] = "past_key_values.%d.key",
                        ["past_value_names"] = "past_key_values.%d.value",
                    },
                    ["outputs"] = new JsonObject
                    {
                        ["logits"] = RwkvContract.LogitsOutput,
                        ["present_key_names"] = "present.%d.key",
                        ["present_value_names"] = "present.%d.value",
                    },
                    ["pipeline"] = new JsonArray
                    {
                        new JsonObject
                        {
                            ["prefill"] = Stage(prefill, onPrompt: true),
                            ["step"] = Stage(step, onPrompt: false),
                        },
                    },
                },
            },
            ["search"] = new JsonObject
            {
                ["do_sample"] = false,
                ["max_length"] = ContextLength,
                ["min_length"] = 0,
                ["num_beams"] = 1,
                ["num_return_sequences"] = 1,
                ["past_present_share_buffer"] = false,
                ["repetition_penalty"] = 1.0,
                ["temperature"] = 1.0,
                ["top_k"] = 1,
                ["top_p"] = 1.0,
            },
        };
        System.IO.File.WriteAllText(Path.Combine(directory, File), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    private static JsonObject Stage(RwkvGraphInfo graph, bool onPrompt) => new()
    {
        ["filename"] = graph.File,
        ["inputs"] = new JsonArray([.. graph.Inputs.Select(i => (JsonNode)i)]),
        ["outputs"] = new JsonArray([.. graph.Outputs.Select(o => (JsonNode)o)]),
        ["run_on_prompt"] = onPrompt,
        ["run_on_token_gen"] = !onPrompt,
    };
}

using System.Globalization;
using System.Text.Json;

namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// The fields of a flash-linear-attention RWKV-7 <c>config.json</c> (<c>model_type</c> <c>rwkv7</c>) that the weights
/// must agree with. <c>num_heads</c> is not among them: fla's converter writes the default (32, computed for a width of
/// 2048) whatever the model, so the head count is <c>hidden_size / head_dim</c>, which must match <c>att.r_k</c>.
/// </summary>
internal sealed record FlaRwkv7Config
{
    /// <summary>RWKV7Config's default <c>head_dim</c>.</summary>
    private const long DefaultHeadDim = 64;

    /// <summary>The layer-norm epsilon every published RWKV-7 uses, and the only one the export supports.</summary>
    private const double SupportedNormEpsilon = 1e-5;

    /// <summary>The config file.</summary>
    public required string Path { get; init; }

    /// <summary><c>hidden_size</c>: the width C.</summary>
    public required long HiddenSize { get; init; }

    /// <summary><c>num_hidden_layers</c>.</summary>
    public required long Layers { get; init; }

    /// <summary><c>vocab_size</c>.</summary>
    public required long VocabSize { get; init; }

    /// <summary><c>head_dim</c> (default 64).</summary>
    public required long HeadDim { get; init; }

    /// <summary><c>intermediate_size</c>, if set.</summary>
    public long? IntermediateSize { get; init; }

    /// <summary>The LoRA ranks set (<c>decay/a/gate/v_low_rank_dim</c>), by the canonical LoRA letter.</summary>
    public required IReadOnlyDictionary<string, long> LoraRanks { get; init; }

    /// <summary><c>value_dim</c> as written, when some layer's value width is not <c>hidden_size</c>; else null.</summary>
    public string? OtherValueDim { get; init; }

    /// <summary>Reads <paramref name="path"/>.</summary>
    /// <exception cref="CheckpointFormatException">
    /// Not valid JSON, not an RWKV-7 config, a required field is missing, or it describes a model the export does not compute
    /// (hybrid attention layers, a value width other than hidden_size, another activation or layer-norm epsilon).
    /// </exception>
    public static FlaRwkv7Config Read(string path) => HuggingFaceConfig.ReadObject(path, root =>
    {
        string? modelType = root.TryGetProperty("model_type", out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        if (modelType != "rwkv7")
        {
            throw HuggingFaceConfig.Error(path, $"has model_type {(modelType is null ? "missing" : $"'{modelType}'")}, but the weights beside it have flash-linear-attention's RWKV-7 names (model_type 'rwkv7')");
        }
        long hidden = HuggingFaceConfig.Required(path, root, "hidden_size");
        if (root.TryGetProperty("attn", out JsonElement attn) && attn.ValueKind != JsonValueKind.Null)
        {
            throw HuggingFaceConfig.Error(path, "sets 'attn': a hybrid model with softmax-attention layers, which the export does not support");
        }
        if (root.TryGetProperty("hidden_act", out JsonElement act) && act.ValueKind != JsonValueKind.Null && act.GetString() is var a && a != "sqrelu")
        {
            throw HuggingFaceConfig.Error(path, $"has hidden_act {act.GetRawText()}; RWKV-7's channel mix is \"sqrelu\" (relu squared)");
        }
        if (root.TryGetProperty("norm_eps", out JsonElement eps) && eps.ValueKind != JsonValueKind.Null
            && !(eps.ValueKind == JsonValueKind.Number && Math.Abs(eps.GetDouble() - SupportedNormEpsilon) <= 1e-12))
        {
            throw HuggingFaceConfig.Error(path, $"has norm_eps {eps.GetRawText()}; the export supports RWKV-7's {SupportedNormEpsilon.ToString(CultureInfo.InvariantCulture)} only");
        }
        string? valueDims = null;
        if (root.TryGetProperty("value_dim", out JsonElement valueDim) && valueDim.ValueKind != JsonValueKind.Null)
        {
            JsonElement[] values = valueDim.ValueKind == JsonValueKind.Array ? [.. valueDim.EnumerateArray()] : [valueDim];
            valueDims = values.All(v => v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long d) && d == hidden) ? null : valueDim.GetRawText();
        }
        var ranks = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach ((string lora, string field) in (ReadOnlySpan<(string, string)>)[("w", "decay_low_rank_dim"), ("a", "a_low_rank_dim"), ("g", "gate_low_rank_dim"), ("v", "v_low_rank_dim")])
        {
            if (HuggingFaceConfig.Optional(path, root, field) is { } rank)
            {
                ranks[lora] = rank;
            }
        }
        return new FlaRwkv7Config
        {
            Path = path,
            HiddenSize = hidden,
            Layers = HuggingFaceConfig.Required(path, root, "num_hidden_layers"),
            VocabSize = HuggingFaceConfig.Required(path, root, "vocab_size"),
            HeadDim = HuggingFaceConfig.Optional(path, root, "head_dim") ?? DefaultHeadDim,
            IntermediateSize = HuggingFaceConfig.Optional(path, root, "intermediate_size"),
            LoraRanks = ranks,
            OtherValueDim = valueDims,
        };
    });

    /// <summary>Checks the config against canonical tensors.</summary>
    /// <exception cref="CheckpointFormatException">A size disagrees with the weights.</exception>
    public void Check(IReadOnlyDictionary<string, CheckpointTensor> tensors, string weightsPath)
    {
        var check = new ConfigShapeCheck(Path, tensors, weightsPath);
        check.Common(VocabSize, HiddenSize, Layers);
        if (OtherValueDim is { } valueDim)
        {
            throw HuggingFaceConfig.Error(Path, $"has value_dim {valueDim}; BlinkDL's RWKV-7 has a value width of hidden_size ({HiddenSize}) in every layer");
        }
        if (HiddenSize % HeadDim != 0)
        {
            throw HuggingFaceConfig.Error(Path, $"says head_dim {HeadDim}, which does not divide hidden_size {HiddenSize}");
        }
        CheckpointTensor rk = check.Tensor("blocks.0.att.r_k");
        if (!rk.Shape.SequenceEqual([HiddenSize / HeadDim, HeadDim]))
        {
            throw new CheckpointFormatException(Path, rk.Name,
                $"Model config '{Path}' says head_dim {HeadDim} (so {HiddenSize / HeadDim} heads of hidden_size {HiddenSize}), but tensor '{rk.Name}' has shape {rk.ShapeText}.");
        }
        if (IntermediateSize is { } ffn)
        {
            check.Agree("intermediate_size", ffn, check.Tensor("blocks.0.ffn.key.weight"), 0);
        }
        foreach ((string lora, long rank) in LoraRanks)
        {
            // Layer 0 has no value LoRA; a one-layer model has none at all.
            string name = lora == "v" ? "blocks.1.att.v1" : $"blocks.0.att.{lora}1";
            if (lora != "v" || Layers > 1)
            {
                check.Agree(lora switch { "w" => "decay_low_rank_dim", "a" => "a_low_rank_dim", "g" => "gate_low_rank_dim", _ => "v_low_rank_dim" },
                    rank, check.Tensor(name), 1);
            }
        }
    }
}

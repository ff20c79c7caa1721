namespace Rwkv.Onnx;

/// <summary>The manifest's recommended sampling: one set of settings for continuing text, one for chat.</summary>
public sealed record RwkvSamplingPresets
{
    /// <summary>For continuing a text (<c>rwkv-onnx generate</c>'s defaults).</summary>
    public required RwkvSamplingInfo Completion { get; init; }

    /// <summary>For chat replies (<c>rwkv-onnx chat</c>'s defaults, after ChatRWKV).</summary>
    public required RwkvSamplingInfo Chat { get; init; }
}

namespace Rwkv.Onnx.Export.Architectures;

/// <summary>
/// One recurrent state tensor that every layer carries: its name, per-sequence shape, the names of its axes, its
/// initial value, and the tensor of a state-tuning file that fills it, if any (all written into the manifest, so no
/// client needs to know which RWKV version lays its state out how).
/// </summary>
internal sealed record StateSlot(string Name, int[] Shape, string[] Layout, float Initial = 0f)
{
    /// <summary>Axis of a per-channel vector [C].</summary>
    public const string ChannelAxis = "channel";

    /// <summary>Axis of the heads of a matrix state [H, N, N].</summary>
    public const string HeadAxis = "head";

    /// <summary>Axis of a head's matrix indexed by the value channel (the output of y = S r).</summary>
    public const string ValueAxis = "value";

    /// <summary>Axis of a head's matrix indexed by the key (and receptance) channel.</summary>
    public const string KeyAxis = "key";

    /// <summary>
    /// RWKV-PEFT's state tuning trains one <c>blocks.{layer}.att.time_state</c> [H, N, N] per layer, laid out
    /// [head, value, key] for RWKV-5, 6 and 7 alike: RWKV-Runner loads it unchanged into RWKV-7's state and transposes it
    /// into ChatRWKV's RWKV-5/6 state, which is [head, key, value].
    /// </summary>
    public static RwkvTimeStateInfo PeftTimeState { get; } = new()
    {
        Tensor = "blocks." + RwkvTimeStateInfo.LayerPlaceholder + ".att.time_state",
        Layout = [HeadAxis, ValueAxis, KeyAxis],
    };

    /// <summary>The tuned tensor that fills this slot; null when state tuning does not touch it.</summary>
    public RwkvTimeStateInfo? TimeState { get; init; }

    /// <summary>A vector of <paramref name="width"/> channels per layer.</summary>
    public static StateSlot Channels(string name, int width, float initial = 0f) => new(name, [width], [ChannelAxis], initial);

    /// <summary>
    /// One N × N matrix per head, [head, value, key]: row i holds what value channel i reads, y = S r. Every version
    /// with a matrix state uses this layout.
    /// </summary>
    public static StateSlot ValueKeyMatrices(string name, int heads, int headSize) =>
        new(name, [heads, headSize, headSize], [HeadAxis, ValueAxis, KeyAxis]);
}

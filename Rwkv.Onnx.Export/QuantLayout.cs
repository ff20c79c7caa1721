using System.Globalization;

namespace Rwkv.Onnx.Export;

/// <summary>
/// Everything that decides an int8/int4 export's weights: bits, block size, block rounding, the head's dtype, the roles
/// kept at 8 bits under int4, and the matmul arithmetic. Written and parsed as a spec such as
/// <c>int4:block=32,rounding=search,head=fp32,int8-roles=att-value+ffn-value</c> (keys left out take the bits' default
/// layout), or named by a preset (<see cref="Presets"/>). <see cref="ExportOptions"/> resolves its own to one of these.
/// </summary>
public sealed record QuantLayout
{
    /// <summary>Bits of the linear layers: <see cref="WeightDType.Int8"/> or <see cref="WeightDType.Int4"/>.</summary>
    public required WeightDType Bits { get; init; }

    /// <summary>Weights per scale: a power of two from 16 to 256.</summary>
    public required int BlockSize { get; init; }

    /// <summary>How each block is rounded.</summary>
    public required BlockRounding Rounding { get; init; }

    /// <summary>Storage type of the LM head (any dtype; a quantized head uses this layout's block and rounding).</summary>
    public required WeightDType Head { get; init; }

    /// <summary>Linear layers kept at 8 bits when <see cref="Bits"/> is int4.</summary>
    public QuantRoles Int8Roles { get; init; }

    /// <summary>Arithmetic of the MatMulNBits nodes.</summary>
    public QuantizedCompute Compute { get; init; } = QuantizedCompute.Int8;

    /// <summary>
    /// The default layout of <c>--dtype int8</c>: blocks of 16 with searched scales, head int8. The int8 arithmetic rounds the
    /// activations per block of the weights, so blocks of 16 halve what that rounding costs at blocks of 32: on the random
    /// 0.1B RWKV-7 it is more accurate than rwkv.cpp's Q8_0 (last-position mean and max |Δlogit|), which blocks of 32 are
    /// not; ACCURACY.md, "Quantization frontier".
    /// </summary>
    public static QuantLayout Int8 { get; } = new() { Bits = WeightDType.Int8, BlockSize = 16, Rounding = BlockRounding.Search, Head = WeightDType.Int8 };

    /// <summary>
    /// The default layout of <c>--dtype int4</c>: blocks of 32 with searched scales (the extra code −8 in use), head int8;
    /// at least as accurate as ggml's Q4_0 on the same weights (last-position mean and max |Δlogit|).
    /// </summary>
    public static QuantLayout Int4 { get; } = new() { Bits = WeightDType.Int4, BlockSize = 32, Rounding = BlockRounding.Search, Head = WeightDType.Int8 };

    /// <summary>
    /// <c>int4-accurate</c>: <see cref="Int4"/> with zero points, the first and last layers and every time-mix projection
    /// and channel-mix value projection at 8 bits (as llama.cpp's Q4_K_M keeps its value and down projections wider),
    /// so only the middle layers' channel-mix key projections stay at 4 bits: more accurate than rwkv.cpp's Q5_1 on the
    /// random 0.1B and 0.4B RWKV-7 (last-position mean and max |Δlogit|).
    /// </summary>
    public static QuantLayout Int4Accurate { get; } = Int4 with
    {
        Rounding = BlockRounding.ZeroPointSearch,
        Int8Roles = QuantRoles.FirstLastLayers | QuantRoles.AttentionReceptance | QuantRoles.AttentionKey | QuantRoles.AttentionValue
            | QuantRoles.AttentionGate | QuantRoles.AttentionOutput | QuantRoles.FfnValue,
    };

    /// <summary><c>int8-fast</c>: the default before issue 20, blocks of 128 scaled by their maximum, head int8: faster, less accurate.</summary>
    public static QuantLayout Int8Fast { get; } = new() { Bits = WeightDType.Int8, BlockSize = 128, Rounding = BlockRounding.AbsMax, Head = WeightDType.Int8 };

    /// <summary><c>int4-fast</c>: the int4 default before issue 20, blocks of 128 scaled by their maximum, head int4.</summary>
    public static QuantLayout Int4Fast { get; } = new() { Bits = WeightDType.Int4, BlockSize = 128, Rounding = BlockRounding.AbsMax, Head = WeightDType.Int4 };

    /// <summary>The named layouts, by name.</summary>
    public static IReadOnlyDictionary<string, QuantLayout> Presets { get; } = new Dictionary<string, QuantLayout>(StringComparer.Ordinal)
    {
        ["int8"] = Int8,
        ["int4"] = Int4,
        ["int4-accurate"] = Int4Accurate,
        ["int8-fast"] = Int8Fast,
        ["int4-fast"] = Int4Fast,
    };

    /// <summary>The default layout of <paramref name="bits"/> (int8 or int4).</summary>
    public static QuantLayout DefaultFor(WeightDType bits) => bits switch
    {
        WeightDType.Int8 => Int8,
        WeightDType.Int4 => Int4,
        _ => throw new ArgumentOutOfRangeException(nameof(bits), bits, $"{bits} is not a quantized dtype (int8 or int4)."),
    };

    /// <summary>The preset this layout is, if any.</summary>
    public string? PresetName => Presets.FirstOrDefault(p => p.Value == this).Key;

    /// <summary>
    /// Parses a preset name or a spec <c>int8|int4[:key=value,...]</c> with keys <c>block</c> (16–256, a power of two),
    /// <c>rounding</c> (<c>absmax</c>, <c>search</c>, <c>zero-point</c>, <c>zero-point-search</c>), <c>head</c>
    /// (<c>fp32</c>, <c>fp16</c>, <c>int8</c>, <c>int4</c>), <c>int8-roles</c> (<c>none</c> or <c>+</c>-joined
    /// <c>first-last</c>, <c>att-value</c>, <c>att-output</c>, <c>ffn-value</c>, <c>att-key</c>, <c>att-receptance</c>,
    /// <c>att-gate</c>, <c>ffn-key</c>, <c>ffn-receptance</c>) and <c>compute</c> (<c>int8</c>,
    /// <c>fp32</c>); keys left out take the default layout of the bits.
    /// </summary>
    /// <exception cref="FormatException">Not a preset or a valid spec; the message names the part and what was expected.</exception>
    public static QuantLayout Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (Presets.TryGetValue(spec, out QuantLayout? preset))
        {
            return preset;
        }
        string[] head = spec.Split(':', 2);
        QuantLayout layout = head[0] switch
        {
            "int8" => Int8,
            "int4" => Int4,
            _ => throw new FormatException($"Quantization layout '{spec}' starts with '{head[0]}'; expected a preset ({string.Join(", ", Presets.Keys)}) or int8/int4 followed by ':key=value,...'."),
        };
        if (head.Length == 1)
        {
            return layout;
        }
        foreach (string part in head[1].Split(','))
        {
            string[] kv = part.Split('=', 2);
            string value = kv.Length == 2 ? kv[1] : "";
            layout = kv[0] switch
            {
                "block" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int b) && b is >= 16 and <= 256 && int.IsPow2(b) => layout with { BlockSize = b },
                "block" => throw Bad(spec, part, "a block size that is a power of two from 16 to 256"),
                "rounding" => layout with { Rounding = ParseRounding(value) ?? throw Bad(spec, part, "absmax, search, zero-point or zero-point-search") },
                "head" => layout with { Head = ParseDType(value) ?? throw Bad(spec, part, "fp32, fp16, int8 or int4") },
                "int8-roles" => layout with { Int8Roles = ParseRoles(value) ?? throw Bad(spec, part, "none or first-last, att-value, att-output, ffn-value, att-key, att-receptance, att-gate, ffn-key, ffn-receptance joined by '+'") },
                "compute" => layout with
                {
                    Compute = value switch
                    {
                        "int8" => QuantizedCompute.Int8,
                        "fp32" => QuantizedCompute.Float32,
                        _ => throw Bad(spec, part, "int8 or fp32"),
                    },
                },
                _ => throw Bad(spec, part, "block=, rounding=, head=, int8-roles= or compute="),
            };
        }
        return layout;
    }

    /// <summary>The spec of this layout, every key written: <see cref="Parse"/> reads it back to an equal layout.</summary>
    public string Spec => string.Create(CultureInfo.InvariantCulture,
        $"{DTypeName(Bits)}:block={BlockSize},rounding={RoundingName(Rounding)},head={DTypeName(Head)},int8-roles={RolesName(Int8Roles)},compute={(Compute == QuantizedCompute.Int8 ? "int8" : "fp32")}");

    /// <inheritdoc/>
    public override string ToString() => PresetName ?? Spec;

    /// <summary>The manifest's and spec's name of <paramref name="rounding"/>.</summary>
    public static string RoundingName(BlockRounding rounding) => rounding switch
    {
        BlockRounding.AbsMax => "absmax",
        BlockRounding.Search => "search",
        BlockRounding.ZeroPoint => "zero-point",
        _ => "zero-point-search",
    };

    /// <summary>The manifest's and spec's names of <paramref name="roles"/>, <c>+</c>-joined, or <c>none</c>.</summary>
    public static string RolesName(QuantRoles roles) => roles == QuantRoles.None ? "none" : string.Join('+', RoleNames(roles));

    /// <summary>The names of the roles in <paramref name="roles"/>.</summary>
    public static IReadOnlyList<string> RoleNames(QuantRoles roles) =>
        [.. s_roles.Where(r => (roles & r.Role) != 0).Select(r => r.Name)];

    /// <summary>
    /// The role of a layer's projection named <c>blocks.N.{mix}.{projection}.weight</c> (e.g. <c>att</c>, <c>key</c> →
    /// <see cref="QuantRoles.AttentionKey"/>): the role whose spec name is <c>{mix}-{projection}</c>, or none.
    /// </summary>
    internal static QuantRoles RoleOf(string mix, string projection)
    {
        string name = $"{mix}-{projection}";
        return s_roles.FirstOrDefault(r => r.Name == name && r.Role != QuantRoles.FirstLastLayers).Role;
    }

    private static readonly (string Name, QuantRoles Role)[] s_roles =
        [
            ("first-last", QuantRoles.FirstLastLayers), ("att-value", QuantRoles.AttentionValue), ("att-output", QuantRoles.AttentionOutput),
            ("ffn-value", QuantRoles.FfnValue), ("att-key", QuantRoles.AttentionKey), ("att-receptance", QuantRoles.AttentionReceptance),
            ("att-gate", QuantRoles.AttentionGate), ("ffn-key", QuantRoles.FfnKey), ("ffn-receptance", QuantRoles.FfnReceptance),
        ];

    private static BlockRounding? ParseRounding(string value) => value switch
    {
        "absmax" => BlockRounding.AbsMax,
        "search" => BlockRounding.Search,
        "zero-point" => BlockRounding.ZeroPoint,
        "zero-point-search" => BlockRounding.ZeroPointSearch,
        _ => null,
    };

    private static WeightDType? ParseDType(string value) => value switch
    {
        "fp32" => WeightDType.Float32,
        "fp16" => WeightDType.Float16,
        "int8" => WeightDType.Int8,
        "int4" => WeightDType.Int4,
        _ => null,
    };

    private static QuantRoles? ParseRoles(string value)
    {
        if (value == "none")
        {
            return QuantRoles.None;
        }
        QuantRoles roles = QuantRoles.None;
        foreach (string name in value.Split('+'))
        {
            (string Name, QuantRoles Role) match = s_roles.FirstOrDefault(r => r.Name == name);
            if (match.Name is null)
            {
                return null;
            }
            roles |= match.Role;
        }
        return roles;
    }

    private static string DTypeName(WeightDType dtype) => dtype switch
    {
        WeightDType.Float32 => "fp32",
        WeightDType.Float16 => "fp16",
        WeightDType.Int8 => "int8",
        _ => "int4",
    };

    private static FormatException Bad(string spec, string part, string expected) =>
        new($"Quantization layout '{spec}': '{part}' is not valid; expected {expected}.");
}

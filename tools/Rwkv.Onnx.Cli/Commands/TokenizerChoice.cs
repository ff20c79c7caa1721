using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// A tokenizer named on the command line: a built-in kind (<c>world</c>, <c>neox</c>, <c>bytes</c>) or else a file path
/// (write <c>./world</c> for a file named like a kind). Used by <c>export --tokenizer</c> and <c>tokenize</c>.
/// </summary>
internal static class TokenizerChoice
{
    /// <summary>The built-in kind <paramref name="value"/> names, or null when it is a file (or absent).</summary>
    public static string? BuiltIn(string? value) => value is not null && RwkvTokenizers.BuiltInKinds.Contains(value) ? value : null;

    /// <summary>The file <paramref name="value"/> names, or null when it is a built-in kind (or absent).</summary>
    public static string? File(string? value) => BuiltIn(value) is null ? value : null;

    /// <summary>The tokenizer of a model directory's manifest, a built-in kind, or a tokenizer file.</summary>
    /// <exception cref="ModelContractException">The model directory's manifest names no usable tokenizer.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a tokenizer.</exception>
    public static ByteLevelTokenizer Load(string value) =>
        Directory.Exists(value) ? RwkvTokenizers.Load(RwkvManifest.Load(value), value)
        : BuiltIn(value) is { } kind ? RwkvTokenizers.CreateBuiltIn(kind)
        : RwkvTokenizers.LoadFile(value);
}

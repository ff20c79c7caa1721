using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx.Tokenization;

/// <summary>Picks the tokenizer an exported model names in its manifest (<see cref="RwkvManifest.Tokenizer"/>).</summary>
public static class RwkvTokenizers
{
    /// <summary>Returns the tokenizer of <paramref name="model"/>.</summary>
    /// <param name="model">A loaded model.</param>
    /// <returns>The tokenizer; immutable and thread-safe.</returns>
    /// <exception cref="ModelContractException">The manifest names a tokenizer kind this version does not support.</exception>
    public static ByteLevelTokenizer Load(RwkvModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Load(model.Manifest, model.ModelDirectory);
    }

    /// <summary>Returns the tokenizer that <paramref name="manifest"/> names.</summary>
    /// <param name="manifest">The model's manifest.</param>
    /// <param name="modelDirectory">The model directory, for tokenizer files and messages.</param>
    /// <returns>The tokenizer; immutable and thread-safe.</returns>
    /// <exception cref="ModelContractException">The manifest names a tokenizer kind this version does not support,
    /// or a byte tokenizer for a vocabulary other than 256.</exception>
    public static ByteLevelTokenizer Load(RwkvManifest manifest, string modelDirectory)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        string kind = manifest.Tokenizer.Kind;
        if (kind != ByteTokenizer.Kind)
        {
            throw new ModelContractException(modelDirectory, "tokenizer.kind",
                $"Model '{modelDirectory}' uses tokenizer kind '{kind}', which is not supported yet; supported kinds: '{ByteTokenizer.Kind}'.");
        }
        if (manifest.Architecture.Vocab != 256)
        {
            throw new ModelContractException(modelDirectory, "tokenizer.kind",
                $"Model '{modelDirectory}' names the '{ByteTokenizer.Kind}' tokenizer but has a vocabulary of {manifest.Architecture.Vocab}; expected 256.");
        }
        return ByteTokenizer.Create();
    }
}

using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx.Tokenization;

/// <summary>
/// Picks the tokenizer an exported model names in its manifest (<see cref="RwkvManifest.Tokenizer"/>), or the one a
/// tokenizer file holds: <c>bytes</c> (<see cref="ByteTokenizer"/>), <c>world</c> (<see cref="RwkvWorldTokenizer"/>,
/// a vocabulary <c>.txt</c>) or <c>neox</c> (<see cref="GptNeoXTokenizer"/>, a Hugging Face <c>tokenizer.json</c>).
/// </summary>
public static class RwkvTokenizers
{
    /// <summary>Returns the tokenizer of <paramref name="model"/>.</summary>
    /// <param name="model">A loaded model.</param>
    /// <returns>The tokenizer; immutable and thread-safe.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> is null.</exception>
    /// <exception cref="ModelContractException">The manifest names an unknown kind, a missing or invalid file, or a tokenizer larger than the model's vocabulary.</exception>
    public static ByteLevelTokenizer Load(RwkvModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Load(model.Manifest, model.ModelDirectory);
    }

    /// <summary>Returns the tokenizer that <paramref name="manifest"/> names.</summary>
    /// <param name="manifest">The model's manifest.</param>
    /// <param name="modelDirectory">The model directory, for tokenizer files and messages.</param>
    /// <returns>The tokenizer; immutable and thread-safe.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ModelContractException">The manifest names an unknown kind, a missing or invalid file, or a tokenizer larger than the model's vocabulary.</exception>
    public static ByteLevelTokenizer Load(RwkvManifest manifest, string modelDirectory)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(modelDirectory);
        string kind = manifest.Tokenizer.Kind;
        ByteLevelTokenizer tokenizer;
        if (kind == ByteTokenizer.Kind)
        {
            tokenizer = ByteTokenizer.Create();
        }
        else if (kind is RwkvWorldTokenizer.Kind or GptNeoXTokenizer.Kind)
        {
            if (string.IsNullOrEmpty(manifest.Tokenizer.File))
            {
                throw new ModelContractException(modelDirectory, "tokenizer.file",
                    $"Model '{modelDirectory}' uses tokenizer kind '{kind}' but its manifest names no tokenizer file.");
            }
            string path = Path.Combine(modelDirectory, manifest.Tokenizer.File);
            try
            {
                tokenizer = Create(kind, path);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                throw new ModelContractException(path, "tokenizer.file", $"Model '{modelDirectory}': cannot read tokenizer '{path}': {e.Message}", e);
            }
        }
        else
        {
            throw new ModelContractException(modelDirectory, "tokenizer.kind",
                $"Model '{modelDirectory}' uses tokenizer kind '{kind}', which is not supported; supported kinds: " +
                $"'{ByteTokenizer.Kind}', '{RwkvWorldTokenizer.Kind}', '{GptNeoXTokenizer.Kind}'.");
        }
        if (tokenizer.VocabularySize > manifest.Architecture.Vocab)
        {
            throw new ModelContractException(modelDirectory, "tokenizer.kind",
                $"Model '{modelDirectory}' names the '{kind}' tokenizer ({tokenizer.VocabularySize} tokens) but has a vocabulary of {manifest.Architecture.Vocab}.");
        }
        return tokenizer;
    }

    /// <summary>Reads a tokenizer file of the kind <see cref="DetectKind"/> finds.</summary>
    /// <param name="path">A World vocabulary (<c>rwkv_vocab_v20230424.txt</c>) or a Hugging Face <c>tokenizer.json</c>.</param>
    /// <returns>The tokenizer; immutable and thread-safe.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is neither kind, or is malformed.</exception>
    public static ByteLevelTokenizer LoadFile(string path) => Create(DetectKind(path), path);

    /// <summary>
    /// Tells which tokenizer a file holds: <c>neox</c> for JSON (a Hugging Face <c>tokenizer.json</c>), <c>world</c>
    /// for text whose first line looks like <c>1 '\x00' 1</c> (a World vocabulary).
    /// </summary>
    /// <param name="path">The tokenizer file.</param>
    /// <returns><see cref="RwkvWorldTokenizer.Kind"/> or <see cref="GptNeoXTokenizer.Kind"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is neither kind.</exception>
    public static string DetectKind(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Tokenizer file '{path}' does not exist.", path);
        }
        using var reader = new StreamReader(path);
        string? line;
        do
        {
            line = reader.ReadLine()?.Trim();
        }
        while (line is { Length: 0 });
        if (line is null)
        {
            throw new InvalidDataException($"Tokenizer file '{path}' is empty.");
        }
        if (line.StartsWith('{'))
        {
            return GptNeoXTokenizer.Kind;
        }
        int space = line.IndexOf(' ', StringComparison.Ordinal);
        if (space > 0 && line[..space].All(char.IsAsciiDigit) && line.Length > space + 1 && line[space + 1] is '\'' or '"' or 'b' or 'B')
        {
            return RwkvWorldTokenizer.Kind;
        }
        throw new InvalidDataException(
            $"Tokenizer file '{path}' is neither a Hugging Face tokenizer.json nor a World vocabulary ('<id> <Python literal> <byte length>' lines).");
    }

    private static ByteLevelTokenizer Create(string kind, string path) => kind switch
    {
        RwkvWorldTokenizer.Kind => RwkvWorldTokenizer.Create(path),
        _ => GptNeoXTokenizer.Create(path),
    };
}

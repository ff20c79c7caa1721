using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx.Tokenization;

/// <summary>
/// Picks the tokenizer an exported model names in its manifest (<see cref="RwkvManifest.Tokenizer"/>), or the one a
/// tokenizer file holds: <c>bytes</c> (<see cref="ByteTokenizer"/>), <c>world</c> (<see cref="RwkvWorldTokenizer"/>,
/// a vocabulary <c>.txt</c>) or <c>neox</c> (<see cref="GptNeoXTokenizer"/>, a Hugging Face <c>tokenizer.json</c>).
/// </summary>
public static class RwkvTokenizers
{
    /// <summary>
    /// The kind a manifest records when the exporter knew no tokenizer for the model (no <c>--tokenizer</c>, and a
    /// vocabulary that matches no built-in one); <see cref="Load(RwkvManifest, string)"/> then says how to add one.
    /// </summary>
    public const string UnknownKind = "unknown";

    /// <summary>The file name of the built-in World vocabulary, as copied into a model directory.</summary>
    public const string WorldVocabularyFile = "rwkv_vocab_v20230424.txt";

    /// <summary>The file name of the built-in GPT-NeoX-20B <c>tokenizer.json</c>, as copied into a model directory.</summary>
    public const string GptNeoXTokenizerFile = "20B_tokenizer.json";

    /// <summary>The vocabulary of the RWKV-4 Pile and Raven models: the 50,277 token ids of GPT-NeoX-20B's tokenizer.</summary>
    public const int GptNeoXVocabularySize = 50277;

    /// <summary>The built-in kinds: <c>bytes</c>, <c>world</c> and <c>neox</c>.</summary>
    public static IReadOnlyList<string> BuiltInKinds { get; } = [ByteTokenizer.Kind, RwkvWorldTokenizer.Kind, GptNeoXTokenizer.Kind];

    /// <summary>
    /// The built-in tokenizer kind of a model vocabulary: <c>bytes</c> for 256, <c>neox</c> for 50,277 (every RWKV-4
    /// Pile and Raven model), <c>world</c> for 65,536 (every RWKV World model: RWKV-4 World, RWKV-5 and later), or
    /// null for any other size, which needs a tokenizer file.
    /// </summary>
    /// <param name="vocabularySize">The model's vocabulary (rows of <c>emb.weight</c>).</param>
    public static string? DefaultKind(int vocabularySize) => vocabularySize switch
    {
        256 => ByteTokenizer.Kind,
        GptNeoXVocabularySize => GptNeoXTokenizer.Kind,
        RwkvWorldTokenizer.WorldVocabularySize => RwkvWorldTokenizer.Kind,
        _ => null,
    };

    /// <summary>
    /// The file a built-in kind is stored in (<see cref="WorldVocabularyFile"/>, <see cref="GptNeoXTokenizerFile"/>),
    /// or null for <c>bytes</c>, which needs none.
    /// </summary>
    /// <param name="kind">One of <see cref="BuiltInKinds"/>.</param>
    /// <exception cref="ArgumentException"><paramref name="kind"/> is not a built-in kind.</exception>
    public static string? BuiltInFile(string kind) => kind switch
    {
        ByteTokenizer.Kind => null,
        RwkvWorldTokenizer.Kind => WorldVocabularyFile,
        GptNeoXTokenizer.Kind => GptNeoXTokenizerFile,
        _ => throw NotBuiltIn(kind),
    };

    /// <summary>
    /// Opens the built-in file of <paramref name="kind"/> (<c>world</c> or <c>neox</c>), embedded in this assembly: the
    /// bytes of rwkv.cpp's <c>rwkv_vocab_v20230424.txt</c> or <c>20B_tokenizer.json</c>. The caller disposes the stream.
    /// </summary>
    /// <param name="kind"><c>world</c> or <c>neox</c>.</param>
    /// <exception cref="ArgumentException"><paramref name="kind"/> is not a kind with a built-in file.</exception>
    public static Stream OpenBuiltInFile(string kind)
    {
        string file = BuiltInFile(kind) ?? throw new ArgumentException($"Tokenizer kind '{kind}' needs no file.", nameof(kind));
        return typeof(RwkvTokenizers).Assembly.GetManifestResourceStream($"{typeof(RwkvTokenizers).Namespace}.{file}")
            ?? throw new InvalidOperationException($"The built-in tokenizer '{file}' is missing from {typeof(RwkvTokenizers).Assembly.GetName().Name}; the build embeds it.");
    }

    /// <summary>Creates a built-in tokenizer: <c>bytes</c>, <c>world</c> or <c>neox</c>.</summary>
    /// <param name="kind">One of <see cref="BuiltInKinds"/>.</param>
    /// <returns>The tokenizer; immutable and thread-safe.</returns>
    /// <exception cref="ArgumentException"><paramref name="kind"/> is not a built-in kind.</exception>
    public static ByteLevelTokenizer CreateBuiltIn(string kind)
    {
        if (kind == ByteTokenizer.Kind)
        {
            return ByteTokenizer.Create();
        }
        using Stream stream = OpenBuiltInFile(kind);
        return kind == RwkvWorldTokenizer.Kind ? RwkvWorldTokenizer.Create(stream) : GptNeoXTokenizer.Create(stream);
    }

    /// <summary>
    /// Tells whether <paramref name="tokenizer"/> fits a model of <paramref name="vocabularySize"/> tokens: none of its ids
    /// may reach the vocabulary, and the vocabulary may exceed it only by padding (up to the next multiple of 256), so
    /// that e.g. the 256-token byte tokenizer does not fit a 65,536-token World model.
    /// </summary>
    /// <param name="tokenizer">The tokenizer.</param>
    /// <param name="vocabularySize">The model's vocabulary.</param>
    /// <returns>Null if it fits, else why not: a sentence fragment naming both sizes, to follow the tokenizer's name.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="tokenizer"/> is null.</exception>
    public static string? Mismatch(ByteLevelTokenizer tokenizer, int vocabularySize)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        int tokens = tokenizer.VocabularySize;
        if (tokens > vocabularySize)
        {
            return $"has {tokens} tokens, more than the model's vocabulary of {vocabularySize}";
        }
        int padded = (int)Math.Min(int.MaxValue, ((tokens + 255L) / 256) * 256);
        return vocabularySize > padded
            ? $"has {tokens} tokens, fewer than the model's vocabulary of {vocabularySize} by more than padding (to {padded}): the model was trained with another tokenizer"
            : null;
    }

    private static ArgumentException NotBuiltIn(string kind) =>
        new($"'{kind}' is not a built-in tokenizer; the built-in ones are {string.Join(", ", BuiltInKinds)}.", nameof(kind));

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
        else if (kind == UnknownKind)
        {
            throw new ModelContractException(modelDirectory, "tokenizer.kind", UnknownTokenizerMessage(modelDirectory, manifest.Architecture.Vocab));
        }
        else
        {
            throw new ModelContractException(modelDirectory, "tokenizer.kind",
                $"Model '{modelDirectory}' uses tokenizer kind '{kind}', which is not supported; supported kinds: " +
                $"'{ByteTokenizer.Kind}', '{RwkvWorldTokenizer.Kind}', '{GptNeoXTokenizer.Kind}'.");
        }
        if (Mismatch(tokenizer, manifest.Architecture.Vocab) is { } mismatch)
        {
            throw new ModelContractException(modelDirectory, "tokenizer.kind",
                $"Model '{modelDirectory}' names the '{kind}' tokenizer, which {mismatch}.");
        }
        return tokenizer;
    }

    // An export without --tokenizer whose vocabulary matched no built-in tokenizer, or one made before there were any.
    private static string UnknownTokenizerMessage(string modelDirectory, int vocab) => DefaultKind(vocab) is { } kind
        ? $"Model '{modelDirectory}' has no tokenizer: its manifest says tokenizer kind '{UnknownKind}', written by an export " +
            $"without --tokenizer from before the exporter picked the '{kind}' tokenizer for a vocabulary of {vocab} by itself. " +
            $"To generate text, export the checkpoint again (or with --tokenizer {kind}); from code, pass " +
            $"RwkvTokenizers.CreateBuiltIn(\"{kind}\") to TextGenerator."
        : $"Model '{modelDirectory}' has no tokenizer: it was exported without --tokenizer, and its vocabulary of {vocab} matches " +
            $"no built-in tokenizer (bytes 256, neox {GptNeoXVocabularySize}, world {RwkvWorldTokenizer.WorldVocabularySize}). " +
            "To generate text, export the checkpoint again with --tokenizer <file> (a World vocabulary .txt or a Hugging Face " +
            "tokenizer.json); from code, pass a tokenizer from RwkvTokenizers.LoadFile to TextGenerator.";

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

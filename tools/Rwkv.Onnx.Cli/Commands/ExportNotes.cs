using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// One-line <c>warning:</c> lines on stderr about an export that is fine to write but likely not what the user wants:
/// a model left without a tokenizer.
/// </summary>
internal static class ExportNotes
{
    /// <summary>Writes the notes for a finished export of <paramref name="directory"/>.</summary>
    /// <param name="stderr">Where the lines go.</param>
    /// <param name="directory">The model directory, as given on the command line.</param>
    /// <param name="manifest">The manifest the export wrote.</param>
    public static void Write(TextWriter stderr, string directory, RwkvManifest manifest)
    {
        if (manifest.Tokenizer.Kind == RwkvTokenizers.UnknownKind)
        {
            stderr.WriteLine(
                $"warning: '{directory}' has no tokenizer: its vocabulary of {manifest.Architecture.Vocab} matches no built-in one " +
                $"(bytes 256, neox {RwkvTokenizers.GptNeoXVocabularySize}, world {RwkvWorldTokenizer.WorldVocabularySize}), so generate and chat " +
                "will refuse it; export again with --tokenizer <file> (a World vocabulary .txt or a Hugging Face tokenizer.json).");
        }
    }
}

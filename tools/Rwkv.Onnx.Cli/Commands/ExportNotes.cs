using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// One-line <c>note:</c> and <c>warning:</c> lines on stderr about an export or a checkpoint that is fine to write but
/// likely not what the user wants: an RWKV-5 rwkv.cpp file exported with the published group-norm epsilon, or a model
/// left without a tokenizer.
/// </summary>
internal static class ExportNotes
{
    /// <summary>Writes the notes for a finished export of <paramref name="directory"/>.</summary>
    /// <param name="stderr">Where the lines go.</param>
    /// <param name="directory">The model directory, as given on the command line.</param>
    /// <param name="manifest">The manifest the export wrote.</param>
    /// <param name="groupNormEpsilon">The <c>--group-norm-eps</c> given, or null.</param>
    public static void Write(TextWriter stderr, string directory, RwkvManifest manifest, float? groupNormEpsilon)
    {
        GroupNormEpsilon(stderr, manifest.Source.Format, manifest.Architecture.Version, groupNormEpsilon);
        if (manifest.WeightDType == "fp16" || manifest.HeadDType == "fp16")
        {
            // ONNX Runtime 1.31 has no float16 MatMul on x64 CPUs: it folds each weight's Cast into a float32 copy per session.
            stderr.WriteLine(
                "note: fp16 saves disk and GPU memory, not CPU memory or time: on the CPU, ONNX Runtime widens the fp16 matrices " +
                "to float32 in each session (about twice the file per session); on the CPU, --dtype int8 is the fast, small choice.");
        }
        if (manifest.Tokenizer.Kind == RwkvTokenizers.UnknownKind)
        {
            stderr.WriteLine(
                $"warning: '{directory}' has no tokenizer: its vocabulary of {manifest.Architecture.Vocab} matches no built-in one " +
                $"(bytes 256, neox {RwkvTokenizers.GptNeoXVocabularySize}, world {RwkvWorldTokenizer.WorldVocabularySize}), so generate and chat " +
                "will refuse it; export again with --tokenizer <file> (a World vocabulary .txt or a Hugging Face tokenizer.json).");
        }
    }

    /// <summary>
    /// Writes the notes for a finished <c>--target genai</c> export: the group-norm note, and that genai gets no tokenizer
    /// when it has none for the vocabulary (RWKV World, or an unknown one), so it runs on token ids.
    /// </summary>
    public static void WriteGenai(TextWriter stderr, string directory, RwkvManifest manifest, float? groupNormEpsilon)
    {
        GroupNormEpsilon(stderr, manifest.Source.Format, manifest.Architecture.Version, groupNormEpsilon);
        if (manifest.Tokenizer.File is null)
        {
            stderr.WriteLine(
                $"note: '{directory}' has no tokenizer.json: onnxruntime-genai has no tokenizer for the {manifest.Tokenizer.Kind} vocabulary " +
                "(RWKV World's greedy longest match has no genai tokenizer class), so genai's Tokenizer and chat client cannot load it; " +
                "run it on token ids (Generator.AppendTokens, GetSequence) with this runtime's tokenizer, as README shows.");
        }
    }

    /// <summary>
    /// Notes that rwkv.cpp's RWKV-5 files need <c>--group-norm-eps 1e-5</c> when <paramref name="format"/> is rwkv.cpp,
    /// <paramref name="version"/> is 5.x and no epsilon was given: rwkv.cpp normalises with 1e-5, our default is the
    /// published 64e-5, and the weights cannot tell which the model was trained with.
    /// </summary>
    public static void GroupNormEpsilon(TextWriter stderr, string format, string version, float? given)
    {
        if (given is null && format == "rwkv.cpp" && version.StartsWith("5.", StringComparison.Ordinal))
        {
            stderr.WriteLine(
                $"note: rwkv.cpp runs its RWKV-5 files (this one is RWKV-{version}) with group-norm epsilon 1e-5, not the published 64e-5 " +
                "used by default; pass --group-norm-eps 1e-5 to match rwkv.cpp's logits.");
        }
    }
}

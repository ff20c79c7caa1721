using System.Buffers.Binary;

namespace Rwkv.Onnx.Tests.Fixtures;

/// <summary>
/// Paths into the shared fixture folder (<c>../shared</c> beside the repository root; see
/// <c>shared/fixtures/README.md</c>). The repository root is the nearest ancestor of the test
/// assembly directory that holds <c>RwkvOnnx.sln</c>. This is the one place that walks up
/// directories; tests ask it for files and never copy fixtures into the repository.
/// </summary>
internal static class SharedFixtures
{
    /// <summary>Number of logits in every expected-logits file (the tiny models are byte-level).</summary>
    public const int ExpectedLogitsCount = 256;

    private const string SolutionFile = "RwkvOnnx.sln";

    /// <summary>
    /// The prompt behind every <c>expected-logits-*.bin</c>: the bytes of the string <c>"in</c>, fed one
    /// at a time from the initial state.
    /// </summary>
    public static ReadOnlySpan<int> PromptTokens => [34, 105, 110];

    /// <summary>The repository root: the nearest ancestor of the test assembly directory that holds <c>RwkvOnnx.sln</c>.</summary>
    /// <exception cref="InvalidOperationException">No ancestor holds the solution file.</exception>
    public static string RepositoryRoot
    {
        get
        {
            string start = AppContext.BaseDirectory;
            for (DirectoryInfo? dir = new(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, SolutionFile)))
                {
                    return dir.FullName;
                }
            }
            throw new InvalidOperationException(
                $"No ancestor of the test assembly directory '{start}' contains '{SolutionFile}'; cannot locate the repository root.");
        }
    }

    /// <summary>The shared folder, <c>../shared</c> beside the repository root.</summary>
    /// <exception cref="InvalidOperationException">The folder does not exist.</exception>
    public static string SharedDirectory
    {
        get
        {
            string shared = Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared"));
            if (!Directory.Exists(shared))
            {
                throw new InvalidOperationException(
                    $"The shared fixture folder '{shared}' does not exist; it must sit beside the repository root '{RepositoryRoot}'.");
            }
            return shared;
        }
    }

    /// <summary>The fixture folder, <c>shared/fixtures</c>.</summary>
    public static string FixturesDirectory => ExistingDirectory(Path.Combine(SharedDirectory, "fixtures"));

    /// <summary>The rwkv.cpp model <c>rwkv-cpp/tiny-rwkv-{model}-{format}.bin</c>, e.g. (<c>7v0-834K</c>, <c>FP32</c>).</summary>
    /// <param name="model">Model name, e.g. <c>7v0-834K</c>.</param>
    /// <param name="format"><c>FP32</c>, <c>FP16</c>, <c>Q5_0</c> or <c>Q5_1</c>.</param>
    /// <exception cref="InvalidOperationException">The file does not exist.</exception>
    public static string RwkvCppModel(string model, string format) =>
        ExistingFile(Path.Combine(FixturesDirectory, "rwkv-cpp", $"tiny-rwkv-{model}-{format}.bin"));

    /// <summary>The original-layout checkpoint <c>pth/tiny-rwkv-{model}-{dtype}.pth</c>, e.g. (<c>7v0-834K</c>, <c>fp32</c>).</summary>
    /// <param name="model">Model name, e.g. <c>7v0-834K</c>.</param>
    /// <param name="dtype"><c>fp32</c>, <c>fp16</c> or <c>bf16</c> (see the fixtures README for which exist).</param>
    /// <exception cref="InvalidOperationException">The file does not exist.</exception>
    public static string Pth(string model, string dtype) =>
        ExistingFile(Path.Combine(FixturesDirectory, "pth", $"tiny-rwkv-{model}-{dtype}.pth"));

    /// <summary>
    /// The byte sequence behind every expected-logits file of <c>rwkv7-variants/</c> (its README): the 33 bytes of
    /// <c>"in the beginning" \x00\xff✓ RWKV-7!\n</c>, token id = byte value.
    /// </summary>
    public static int[] VariantSequence =>
        [34, 105, 110, 32, 116, 104, 101, 32, 98, 101, 103, 105, 110, 110, 105, 110, 103, 34, 32, 0, 255, 226, 156, 147, 32, 82, 87, 75, 86, 45, 55, 33, 10];

    /// <summary>A file or folder of <c>rwkv7-variants/</c>, e.g. <c>tiny-rwkv-7a-de-L2.pth</c> or <c>hf/rwkv7-7v0-834K-fp32</c>.</summary>
    /// <exception cref="InvalidOperationException">It does not exist.</exception>
    public static string Rwkv7Variant(string relativePath)
    {
        string path = Path.Combine(FixturesDirectory, "rwkv7-variants", relativePath);
        return Directory.Exists(path) ? path : ExistingFile(path);
    }

    /// <summary>A file of <c>shared/tokenizers</c>, e.g. <c>rwkv_vocab_v20230424.txt</c>.</summary>
    /// <exception cref="InvalidOperationException">The file does not exist.</exception>
    public static string Tokenizer(string fileName) =>
        ExistingFile(Path.Combine(SharedDirectory, "tokenizers", fileName));

    /// <summary>
    /// The logits rwkv.cpp computes for <paramref name="model"/> after <see cref="PromptTokens"/>, from
    /// <c>rwkv-cpp/expected-logits-{model}.bin</c> (256 little-endian float32 values, no header).
    /// </summary>
    /// <exception cref="InvalidOperationException">The file does not exist or is not 1024 bytes long.</exception>
    public static float[] ExpectedLogits(string model)
    {
        string path = ExistingFile(Path.Combine(FixturesDirectory, "rwkv-cpp", $"expected-logits-{model}.bin"));
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length != ExpectedLogitsCount * sizeof(float))
        {
            throw new InvalidOperationException(
                $"Expected-logits file '{path}' is {bytes.Length} bytes long; expected {ExpectedLogitsCount * sizeof(float)}.");
        }
        var logits = new float[ExpectedLogitsCount];
        for (int i = 0; i < logits.Length; i++)
        {
            logits[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * sizeof(float)));
        }
        return logits;
    }

    private static string ExistingDirectory(string path) =>
        Directory.Exists(path)
            ? path
            : throw new InvalidOperationException($"The fixture folder '{path}' does not exist.");

    private static string ExistingFile(string path) =>
        File.Exists(path)
            ? path
            : throw new InvalidOperationException($"The fixture file '{path}' does not exist; see shared/fixtures/README.md for the files provided.");
}

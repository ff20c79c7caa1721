using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Rwkv.Onnx.Cli.Verification;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// <c>rwkv-onnx verify &lt;dir&gt; --against &lt;checkpoint&gt; [--tokens N] [--text file] [--json] [--allow-different-source]
/// [--allow-non-finite]</c>: exports the checkpoint in fp32 to a temporary directory, runs the same tokens through both, and
/// reports max and mean |Δlogit|, top-1 agreement, sizes on disk, and with a text (byte-level models) both perplexities.
/// The checkpoint must be the one the model was exported from, unless <c>--allow-different-source</c>; a NaN or infinite
/// logit of either model is an error unless allowed.
/// </summary>
internal static class VerifyCommand
{
    private const int DefaultTokens = 512;

    // A million positions take hours on the CPU; more is a typo.
    private const int MaxTokens = 1_000_000;

    public static Command Create()
    {
        var directory = new Argument<string>("dir") { Description = "The exported model directory to check." };
        var against = new Option<string>("--against") { Description = "The checkpoint it was exported from; exported again in fp32 as the reference.", Required = true, HelpName = "checkpoint" };
        var tokens = new Option<int?>("--tokens") { Description = $"Positions to compare: the first N bytes of --text, or N seeded random tokens without it (default {DefaultTokens}).", HelpName = "N" }
            .InRange(NumericRange.From(2, MaxTokens));
        var text = new Option<string?>("--text") { Description = "A text file fed as bytes (byte-level models only); adds perplexity.", HelpName = "file" };
        var json = new Option<bool>("--json") { Description = "Print the report as one JSON object." };
        var allowNonFinite = new Option<bool>("--allow-non-finite")
        {
            Description = "Compare NaN or infinite logits (the report shows NaN) instead of failing on them.",
        };
        var allowDifferentSource = new Option<bool>("--allow-different-source")
        {
            Description = "Compare with a checkpoint of the same shape that is not the one the model was exported from (e.g. another precision of it); without this, that is an error.",
        };
        var load = new ModelLoadOptions();
        var command = new Command("verify", "Compare an export with an fp32 export of the same checkpoint: logit error, top-1 agreement, perplexity.")
        {
            directory, against, tokens, text, json, allowDifferentSource, allowNonFinite,
        };
        load.AddTo(command);
        command.SetAction(parsed =>
        {
            TextWriter stdout = parsed.InvocationConfiguration.Output;
            TextWriter stderr = parsed.InvocationConfiguration.Error;
            string dir = ModelDirectory.Require(parsed.GetRequiredValue(directory));
            string checkpoint = parsed.GetRequiredValue(against);
            RwkvManifest manifest = RwkvManifest.Load(dir);
            int[] ids = Tokens(parsed.GetValue(text), parsed.GetValue(tokens), manifest.Architecture.Vocab);
            // RWKV-4 has no group norm; its manifest records 0, which is no valid option value.
            float epsilon = manifest.Architecture.GroupNormEpsilon;
            var exportOptions = new ExportOptions { GroupNormEpsilon = epsilon > 0 ? epsilon : null };
            CheckSource(dir, manifest, checkpoint, exportOptions, parsed.GetValue(allowDifferentSource), stderr);

            DirectoryInfo work = Directory.CreateTempSubdirectory("rwkv-verify-");
            try
            {
                string referenceDir = Path.Combine(work.FullName, "fp32");
                RwkvExporter.Export(checkpoint, referenceDir, exportOptions);
                // A non-finite candidate logit fails in the runner, naming the position; the reference lives in a
                // temporary directory, so the verifier checks it and names the checkpoint instead.
                bool allow = parsed.GetValue(allowNonFinite);
                var clock = Stopwatch.StartNew();
                using RwkvModel candidate = RwkvModel.Load(dir, load.Read(parsed, checkFiniteLogits: !allow));
                double candidateLoad = clock.Elapsed.TotalMilliseconds;
                clock.Restart();
                using RwkvModel reference = RwkvModel.Load(referenceDir, load.Read(parsed));
                double referenceLoad = clock.Elapsed.TotalMilliseconds;
                VerifyReport report = ExportVerifier.Compare(candidate, reference, ids, perplexity: parsed.GetValue(text) is not null,
                    referenceSource: allow ? null : $"the fp32 reference exported again from '{checkpoint}'")
                    with
                {
                    SizeOnDiskBytes = ExportCommand.DirectoryBytes(dir),
                    ReferenceSizeOnDiskBytes = ExportCommand.DirectoryBytes(referenceDir),
                    LoadMilliseconds = candidateLoad,
                    ReferenceLoadMilliseconds = referenceLoad,
                };
                if (parsed.GetValue(json))
                {
                    stdout.WriteLine(JsonSerializer.Serialize(report, s_json));
                }
                else
                {
                    Write(stdout, dir, report);
                }
            }
            finally
            {
                work.Delete(recursive: true);
            }
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>
    /// Refuses a reference checkpoint that is not the model's source (its SHA-256 differs from the manifest's) unless
    /// <paramref name="allowDifferent"/>, and then only warns; one of another shape is refused either way, since its
    /// logits say nothing about the export.
    /// </summary>
    /// <exception cref="UsageException">The checkpoint is not the source and not allowed, or has another shape.</exception>
    private static void CheckSource(string dir, RwkvManifest manifest, string checkpoint, ExportOptions options, bool allowDifferent, TextWriter stderr)
    {
        using (RwkvCheckpoint source = RwkvCheckpoint.Open(checkpoint))
        {
            if (string.Equals(RwkvExporter.Sha256(source.Files), manifest.Source.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                return;
            }
        }
        string expected = Shape(manifest.Architecture), actual = Shape(RwkvExporter.Inspect(checkpoint, options).Architecture);
        if (expected != actual)
        {
            throw new UsageException($"--against: '{checkpoint}' is {actual}, but '{dir}' is {expected}: their logits cannot be compared. " +
                $"Give the checkpoint it was exported from ('{manifest.Source.File}').");
        }
        string notSource = $"'{checkpoint}' is not the checkpoint '{dir}' was exported from ('{manifest.Source.File}', a file with another SHA-256)";
        if (!allowDifferent)
        {
            throw new UsageException($"--against: {notSource}; pass --allow-different-source to compare with it anyway.");
        }
        stderr.WriteLine($"warning: {notSource}; comparing anyway, as --allow-different-source asks.");
    }

    private static string Shape(RwkvArchitectureInfo a) => string.Create(CultureInfo.InvariantCulture,
        $"RWKV-{a.Version} with {a.Layers} layers, width {a.Embedding}, {a.Heads} x {a.HeadSize} heads, vocabulary {a.Vocab} and ffn {a.FfnSize}");

    private static readonly JsonSerializerOptions s_json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private static int[] Tokens(string? textPath, int? count, int vocab)
    {
        if (textPath is null)
        {
            var random = new Random(0);
            return [.. Enumerable.Range(0, count ?? DefaultTokens).Select(_ => random.Next(vocab))];
        }
        if (vocab != 256)
        {
            throw new UsageException($"--text: the model has a vocabulary of {vocab} tokens; text is fed as bytes, which needs a byte-level model (256).");
        }
        if (Directory.Exists(textPath))
        {
            throw new UsageException($"--text: '{textPath}' is a directory; expected a text file.");
        }
        if (!File.Exists(textPath))
        {
            throw new FileNotFoundException($"--text: '{textPath}' does not exist.", textPath);
        }
        byte[] bytes = File.ReadAllBytes(textPath);
        int n = Math.Min(bytes.Length, count ?? bytes.Length);
        if (n < 2)
        {
            throw new UsageException($"--text: '{textPath}' has {bytes.Length} byte(s); at least 2 are needed.");
        }
        return [.. bytes.Take(n).Select(b => (int)b)];
    }

    private static void Write(TextWriter stdout, string dir, VerifyReport r)
    {
        var c = CultureInfo.InvariantCulture;
        string block = r.BlockSize is { } b ? string.Create(c, $", block {b}, {r.QuantizedCompute ?? "fp32"} compute") : "";
        stdout.WriteLine($"verified {dir} (weights {r.WeightDType}, head {r.HeadDType ?? r.WeightDType}{block}) against an fp32 export");
        stdout.WriteLine(string.Create(c, $"  tokens {r.Tokens}: max |dlogit| {r.MaxAbsLogitError:G4}, mean |dlogit| {r.MeanAbsLogitError:G4}, top-1 agreement {r.Top1Agreement:P2}"));
        stdout.WriteLine(string.Create(c, $"  fp32 logits: std {r.ReferenceLogitStd:G4}, mean top-1 margin {r.ReferenceTop1Margin:G4}"));
        if (r.Perplexity is { } p && r.ReferencePerplexity is { } q)
        {
            stdout.WriteLine(string.Create(c, $"  perplexity {p:F4} (fp32 {q:F4})"));
        }
        stdout.WriteLine($"  size on disk {ExportCommand.FormatSize(r.SizeOnDiskBytes)} (fp32 {ExportCommand.FormatSize(r.ReferenceSizeOnDiskBytes)})");
        stdout.WriteLine(string.Create(c, $"  load time {r.LoadMilliseconds / 1000:F2} s (fp32 {r.ReferenceLoadMilliseconds / 1000:F2} s)"));
    }
}

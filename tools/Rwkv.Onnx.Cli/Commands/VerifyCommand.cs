using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Rwkv.Onnx.Cli.Verification;
using Rwkv.Onnx.Export;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// <c>rwkv-onnx verify &lt;dir&gt; --against &lt;checkpoint&gt; [--tokens N] [--text file] [--json]</c>: exports the
/// checkpoint in fp32 to a temporary directory, runs the same tokens through both, and reports max and mean
/// |Δlogit|, top-1 agreement, sizes on disk, and with a text (byte-level models) both perplexities.
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
        var load = new ModelLoadOptions();
        var command = new Command("verify", "Compare an export with an fp32 export of the same checkpoint: logit error, top-1 agreement, perplexity.")
        {
            directory, against, tokens, text, json,
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
            if (File.Exists(checkpoint) && !string.Equals(Sha256(checkpoint), manifest.Source.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                stderr.WriteLine($"warning: '{checkpoint}' is not the file '{dir}' was exported from ('{manifest.Source.File}'); comparing anyway.");
            }

            DirectoryInfo work = Directory.CreateTempSubdirectory("rwkv-verify-");
            try
            {
                string referenceDir = Path.Combine(work.FullName, "fp32");
                // RWKV-4 has no group norm; its manifest records 0, which is no valid option value.
                float epsilon = manifest.Architecture.GroupNormEpsilon;
                RwkvExporter.Export(checkpoint, referenceDir, new ExportOptions { GroupNormEpsilon = epsilon > 0 ? epsilon : null });
                RwkvModelOptions options = load.Read(parsed);
                var clock = Stopwatch.StartNew();
                using RwkvModel candidate = RwkvModel.Load(dir, options);
                double candidateLoad = clock.Elapsed.TotalMilliseconds;
                clock.Restart();
                using RwkvModel reference = RwkvModel.Load(referenceDir, options);
                double referenceLoad = clock.Elapsed.TotalMilliseconds;
                VerifyReport report = ExportVerifier.Compare(candidate, reference, ids, perplexity: parsed.GetValue(text) is not null)
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

    private static string Sha256(string path)
    {
        using FileStream stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}

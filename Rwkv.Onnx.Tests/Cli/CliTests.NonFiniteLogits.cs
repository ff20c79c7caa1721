using Rwkv.Onnx.Cli.Verification;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>
/// <c>logits</c> and <c>verify</c> on a model whose weights file holds NaN: an error naming the position and the first bad
/// logit, with nothing written, unless <c>--allow-non-finite</c> keeps them.
/// </summary>
public sealed partial class CliTests
{
    private const int DamagedToken = 66; // 'B'

    // A copy of the exported fixture whose embedding row of token 66 is NaN.
    private string DamagedModel()
    {
        string copy = Path.Combine(_work, "damaged");
        Directory.CreateDirectory(copy);
        foreach (string file in Directory.GetFiles(_model))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }
        DamagedWeights.NaNEmbeddingRow(copy, DamagedToken);
        return copy;
    }

    // Stepping, the NaN starts at token 66. The chunked prefill spreads it to the whole chunk (its masks multiply by 0,
    // and NaN · 0 is NaN), so there the first bad logit follows position 0.
    [TestCase("step", "--all", "position 1 (id 66;", TestName = "Logits_NaNWeights_Step_All_FailsNamingPositionAndWritesNothing")]
    [TestCase("prefill", "--all", "position 0 (id 65;", TestName = "Logits_NaNWeights_Prefill_All_FailsNamingPositionAndWritesNothing")]
    [TestCase("prefill", null, "position 2 (id 67;", TestName = "Logits_NaNWeights_Prefill_Last_FailsNamingPositionAndWritesNothing")]
    public void Logits_NaNWeights_Fail(string mode, string? all, string where)
    {
        string model = DamagedModel();
        string output = Path.Combine(_work, "logits.npy");
        string[] args = ["logits", model, "--tokens", "65,66,67", "--mode", mode, "--out", output, .. all is null ? Array.Empty<string>() : [all]];

        CliRun run = Run(args);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(1));
            Assert.That(run.Stderr, Does.StartWith($"error: The model loaded from '{model}' produced NaN at logit 0 (of 256) after the token at {where}"));
            Assert.That(run.Stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1), "one error line");
            Assert.That(File.Exists(output), Is.False, "no .npy is written");
        });
    }

    [Test]
    public void Logits_NaNWeights_AllowNonFinite_WritesThemAfterTheFiniteRow()
    {
        string output = Path.Combine(_work, "logits.npy");

        CliRun run = Run("logits", DamagedModel(), "--tokens", "65,66,67", "--all", "--mode", "step", "--allow-non-finite", "--out", output);

        Assert.That(run.ExitCode, Is.Zero, run.Stderr);
        NpyArray logits = NpyReader.Read(output);
        Assert.Multiple(() =>
        {
            Assert.That(logits.Shape, Is.EqualTo(new[] { 3, 256 }));
            // Row 0 follows token 65, whose embedding is intact: the undamaged model's logits. Then NaN.
            Assert.That(logits.Data[..256], Is.EqualTo(RuntimeLogits(_model, [65], all: false, RwkvForwardMode.Step)).Within(1e-5f));
            Assert.That(logits.Data[256..], Has.All.NaN);
        });
    }

    [Test]
    public void Verify_NaNWeights_FailsNamingPosition_UnlessAllowed()
    {
        string model = DamagedModel();
        string text = Path.Combine(_work, "text.txt");
        File.WriteAllText(text, "ABCD");

        CliRun refused = Run("verify", model, "--against", SharedFixtures.RwkvCppModel(Model, "FP32"), "--text", text);
        CliRun allowed = Run("verify", model, "--against", SharedFixtures.RwkvCppModel(Model, "FP32"), "--text", text, "--allow-non-finite");

        Assert.Multiple(() =>
        {
            Assert.That(refused.ExitCode, Is.EqualTo(1));
            // verify prefills, which spreads the NaN of token 66 ('B') over the chunk: position 0 is the first bad one.
            Assert.That(refused.Stderr, Does.StartWith($"error: The model loaded from '{model}' produced NaN at logit 0 (of 256) after the token at position 0 (id 65;"));
            Assert.That(refused.Stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1), "one error line");
            Assert.That(refused.Stdout, Is.Empty);
            Assert.That(allowed.ExitCode, Is.Zero, allowed.Stderr);
            Assert.That(allowed.Stdout, Does.Contain("max |dlogit| NaN"));
        });
    }

    [Test]
    public void ExportVerifier_NonFiniteReference_ThrowsNamingTheReferenceSource_UnlessNoneIsGiven()
    {
        // verify's reference is a temporary export, so the verifier names what it was exported from instead.
        using RwkvModel candidate = RwkvModel.Load(_model);
        using RwkvModel reference = RwkvModel.Load(DamagedModel());

        var e = Assert.Throws<NonFiniteValueException>(() => ExportVerifier.Compare(candidate, reference, [65, 66, 67, 68], perplexity: false, referenceSource: "the fp32 reference exported again from 'x.bin'"));
        VerifyReport kept = ExportVerifier.Compare(candidate, reference, [65, 66, 67, 68], perplexity: false);

        Assert.Multiple(() =>
        {
            Assert.That(e!.Message, Does.StartWith("The fp32 reference exported again from 'x.bin' produced NaN at logit 0 (of 256) after the token at position 0 (id 65;"));
            Assert.That((e.TensorName, e.Index), Is.EqualTo((RwkvContract.LogitsOutput, 0L)));
            Assert.That(kept.MaxAbsLogitError, Is.NaN);
        });
    }
}

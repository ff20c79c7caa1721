using Rwkv.Onnx.Export;
using Rwkv.Onnx.Tests.Cli;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Parity;

/// <summary>
/// Issue 21: the RWKV-7 variant fixtures (<c>rwkv7-variants/</c>) exported and run over their 33-byte sequence, token by
/// token (step graph) and as one prompt (prefill graph, chunked and scan), against the upstream reference logits at every
/// position (ChatRWKV's RWKV_x070 on CPU fp32; see the fixtures README).
/// </summary>
[TestFixture]
public sealed class Rwkv7VariantParityTests
{
    // The bound for fp32 exports; the fixtures' own agreement with rwkv.cpp is 4.8e-7.
    private const float Fp32Tolerance = 1e-4f;
    private readonly ScratchRoot _scratch = new("rwkv-7-variants-");

    [OneTimeSetUp]
    public void CreateScratch() => _scratch.Create();

    [OneTimeTearDown]
    public void DeleteScratch() => _scratch.Delete();

    /// <summary>A fixture checkpoint, the logits file it must reproduce, and the bound.</summary>
    public sealed record VariantCase(string Checkpoint, string Logits, float Tolerance, WeightDType DType = WeightDType.Float32)
    {
        public override string ToString() => $"{Checkpoint} {RwkvExporter.Name(DType)}";
    }

    public static readonly VariantCase[] Cases =
    [
        new("hf/rwkv7-7v0-834K-fp32", "hf/rwkv7-7v0-834K-logits.npy", Fp32Tolerance),
        new("hf/rwkv7-7v0-834K-bf16", "hf/rwkv7-7v0-834K-logits.npy", Fp32Tolerance),
    ];

    [TestCaseSource(nameof(Cases))]
    public void Export_ReproducesTheReferenceAtEveryPosition_InBothGraphs(VariantCase c)
    {
        int[] tokens = SharedFixtures.VariantSequence;
        NpyArray expected = NpyReader.Read(SharedFixtures.Rwkv7Variant(c.Logits));
        Assert.That(expected.Shape, Is.EqualTo(new[] { tokens.Length, SharedFixtures.ExpectedLogitsCount }));
        foreach (PrefillRecurrence recurrence in new[] { PrefillRecurrence.Chunked, PrefillRecurrence.Scan })
        {
            string output = Path.Combine(_scratch.CreateDirectory(), "model");
            RwkvExporter.Export(SharedFixtures.Rwkv7Variant(c.Checkpoint), output, new ExportOptions { WeightDType = c.DType, PrefillRecurrence = recurrence });
            using RwkvModel model = RwkvModel.Load(output);
            foreach (RwkvForwardMode mode in new[] { RwkvForwardMode.Step, RwkvForwardMode.Prefill })
            {
                using RwkvRunner runner = model.CreateRunner();
                using RwkvState state = model.CreateState();
                var logits = new float[tokens.Length * model.VocabSize];
                runner.ForwardAll(tokens, state, logits, mode);
                float max = 0;
                for (int i = 0; i < logits.Length; i++)
                {
                    max = Math.Max(max, Math.Abs(logits[i] - expected.Data[i]));
                }
                TestContext.Out.WriteLine($"{c} {recurrence} {mode}: max |Δ| {max:g3} over {tokens.Length} positions");
                Assert.That(logits, Is.EqualTo(expected.Data).Within(c.Tolerance), $"{recurrence} {mode}");
            }
        }
    }
}

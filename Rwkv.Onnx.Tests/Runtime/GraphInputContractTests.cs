using Microsoft.ML.OnnxRuntime;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Runtime;

/// <summary>
/// What the exported graphs themselves do with inputs that only our runtime checks (CONTRACT.md, "Input checks"): an
/// outside client driving ONNX Runtime directly gets these behaviours, not errors.
/// </summary>
[TestFixture]
public sealed class GraphInputContractTests
{
    private static readonly ScratchRoot s_root = new("rwkv-graph-inputs-");
    private static RwkvManifest? s_manifest;
    private static InferenceSession? s_step;
    private static InferenceSession? s_prefill;

    private static RwkvManifest Manifest => s_manifest ?? throw new InvalidOperationException("The model was not exported.");

    [OneTimeSetUp]
    public void OneTimeSetUp()
    {
        s_root.Create();
        string directory = Path.Combine(s_root.Path, "model");
        s_manifest = RwkvExporter.Export(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), directory, new ExportOptions());
        s_step = new InferenceSession(Path.Combine(directory, RwkvContract.StepGraphFile));
        s_prefill = new InferenceSession(Path.Combine(directory, RwkvContract.PrefillGraphFile));
    }

    [OneTimeTearDown]
    public void OneTimeTearDown()
    {
        s_step?.Dispose();
        s_prefill?.Dispose();
        s_root.Delete();
    }

    // Runs a graph from the initial state; returns the shape of logits_all (prefill) and the last position's logits.
    private static (long[] AllShape, float[] Logits) Run(long[] tokens, long? numLogits)
    {
        var inputs = new Dictionary<string, OrtValue>();
        try
        {
            inputs[RwkvContract.TokensInput] = numLogits is null
                ? OrtValue.CreateTensorValueFromMemory(tokens, [tokens.Length])
                : OrtValue.CreateTensorValueFromMemory(tokens, [1, tokens.Length]);
            if (numLogits is long n)
            {
                inputs[RwkvContract.NumLogitsInput] = OrtValue.CreateTensorValueFromMemory(new[] { n }, []);
            }
            foreach (RwkvStateTensorInfo s in Manifest.State)
            {
                float[] data = new float[s.Shape.Aggregate(1, (a, d) => a * d)];
                Array.Fill(data, s.Initial);
                inputs[s.Input] = OrtValue.CreateTensorValueFromMemory(data, [1, .. s.Shape.Select(d => (long)d)]);
            }
            InferenceSession session = numLogits is null ? s_step! : s_prefill!;
            string[] outputs = numLogits is null ? [RwkvContract.LogitsOutput] : [RwkvContract.LogitsOutput, RwkvContract.LogitsAllOutput];
            using var run = new RunOptions();
            using IDisposableReadOnlyCollection<OrtValue> results = session.Run(run, inputs.Keys.ToArray(), inputs.Values.ToArray(), outputs);
            long[] allShape = numLogits is null ? [] : results[1].GetTensorTypeAndShape().Shape;
            return (allShape, results[0].GetTensorDataAsSpan<float>().ToArray());
        }
        finally
        {
            foreach (OrtValue value in inputs.Values)
            {
                value.Dispose();
            }
        }
    }

    [TestCase(1, 1)]
    [TestCase(3, 3)]
    [TestCase(0, 3, TestName = "Prefill_NumLogitsZero_ReturnsEveryPosition")]
    [TestCase(5, 3, TestName = "Prefill_NumLogitsAboveT_ReturnsEveryPosition")]
    [TestCase(-1, 2, TestName = "Prefill_NumLogitsNegative_CountsFromTheEnd")]
    public void Prefill_NumLogits_IsASliceTheGraphDoesNotCheck(long numLogits, long positions)
    {
        (long[] shape, float[] logits) = Run([34, 105, 110], numLogits);
        (_, float[] reference) = Run([34, 105, 110], 1);

        Assert.That(shape, Is.EqualTo(new long[] { 1, positions, Manifest.Architecture.Vocab }));
        Assert.That(logits, Is.EqualTo(reference), "logits (the last position) does not depend on num_logits");
    }

    [TestCase(null, TestName = "Step_NegativeTokenId_ReadsTheEmbeddingFromTheEnd")]
    [TestCase(1L, TestName = "Prefill_NegativeTokenId_ReadsTheEmbeddingFromTheEnd")]
    public void Graph_NegativeTokenId_IsGathersNegativeIndex(long? numLogits)
    {
        int vocab = Manifest.Architecture.Vocab;

        Assert.That(Run([-1], numLogits).Logits, Is.EqualTo(Run([vocab - 1], numLogits).Logits));
    }

    [TestCase(null)]
    [TestCase(1L)]
    public void Graph_TokenIdOutsideMinusVocabToVocab_FailsInTheEmbeddingGather(long? numLogits)
    {
        int vocab = Manifest.Architecture.Vocab;
        foreach (long id in new long[] { vocab, -vocab - 1 })
        {
            Assert.That(() => Run([id], numLogits), Throws.InstanceOf<OnnxRuntimeException>().With.Message.Contains("/emb/Gather"));
        }
    }
}

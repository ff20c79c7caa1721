using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Export.Proto;
using Rwkv.Onnx.Tests.Fixtures;
using Rwkv.Onnx.Tests.Parity;

namespace Rwkv.Onnx.Tests.Export;

[TestFixture]
public sealed class RwkvExporterTests
{
    private string _work = "";

    [SetUp]
    public void SetUp()
    {
        _work = Path.Combine(Path.GetTempPath(), "rwkv-export-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_work);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_work, recursive: true);

    [Test]
    public void Export_Rwkv7Fixture_WritesManifestGraphsAndSharedWeights()
    {
        string checkpoint = SharedFixtures.RwkvCppModel("7v0-834K", "FP32");
        string output = Path.Combine(_work, "model");

        RwkvManifest manifest = RwkvExporter.Export(checkpoint, output, new ExportOptions());

        Assert.That(Directory.GetFiles(output).Select(Path.GetFileName), Is.EquivalentTo(new[]
        {
            RwkvContract.ManifestFile, RwkvContract.StepGraphFile, RwkvContract.PrefillGraphFile, RwkvContract.StateCopyGraphFile, RwkvContract.WeightsFile,
        }));
        RwkvArchitectureInfo a = manifest.Architecture;
        Assert.That((a.Version, a.Layers, a.Embedding, a.Heads, a.HeadSize, a.Vocab, a.FfnSize), Is.EqualTo(("7", 12, 64, 1, 64, 256, 256)));
        Assert.That(a.LoraRanks, Is.EquivalentTo(new Dictionary<string, int> { ["w"] = 32, ["a"] = 32, ["v"] = 32, ["g"] = 32 }));
        Assert.That(a.Parameters, Is.EqualTo(829_888), "the fixtures README gives the parameter count");
        Assert.That(manifest.State, Has.Count.EqualTo(36));
        Assert.That(manifest.State[1], Is.EqualTo(new RwkvStateTensorInfo
        {
            Slot = "wkv",
            Layer = 0,
            Input = "past_wkv.0",
            Output = "present_wkv.0",
            Shape = manifest.State[1].Shape,
            DType = "float32",
            Initial = 0,
            Layout = manifest.State[1].Layout,
            TimeState = manifest.State[1].TimeState,
        }));
        Assert.That(manifest.State[1].Shape, Is.EqualTo(new[] { 1, 64, 64 }));
        using (FileStream source = File.OpenRead(checkpoint))
        {
            Assert.That(manifest.Source.Sha256, Is.EqualTo(Convert.ToHexStringLower(SHA256.HashData(source))));
        }
        Assert.That(RwkvManifest.Load(output), Is.EqualTo(manifest).Using<RwkvManifest>((x, y) => x.ToJson() == y.ToJson()));

        foreach (string file in new[] { RwkvContract.StepGraphFile, RwkvContract.PrefillGraphFile })
        {
            ModelProto model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(output, file)));
            Assert.That(model.IrVersion, Is.EqualTo(8));
            Assert.That(model.OpsetImport.Single().Version, Is.EqualTo(17));
            Assert.That(model.MetadataProps.Single(p => p.Key == RwkvContract.ManifestMetadataKey).Value, Is.EqualTo(manifest.ToJson()));
            var external = model.Graph.Initializer.Where(t => t.DataLocation == TensorProto.Types.DataLocation.External).ToList();
            Assert.That(external, Is.Not.Empty);
            Assert.That(external.Select(t => t.ExternalData.Single(e => e.Key == "location").Value).Distinct(), Is.EqualTo(new[] { RwkvContract.WeightsFile }));
            Assert.That(model.Graph.Initializer.Where(t => t.DataLocation != TensorProto.Types.DataLocation.External).Sum(t => t.CalculateSize()),
                Is.LessThan(4096), "only small constants live inside the graph");
            Assert.That(model.Graph.Input.Select(i => i.Name), Is.EqualTo(file == RwkvContract.StepGraphFile ? manifest.StepGraph.Inputs : manifest.PrefillGraph.Inputs));
            Assert.That(model.Graph.Output.Select(i => i.Name), Is.EqualTo(file == RwkvContract.StepGraphFile ? manifest.StepGraph.Outputs : manifest.PrefillGraph.Outputs));
        }
        Assert.That(Graph(RwkvContract.StepGraphFile).Graph.Node.Select(n => n.Name), Has.Some.StartsWith("/blocks.3/att/"));
        // The manifest lists the weights file's tensors exactly as the graphs' external initializers name them, in file order.
        var listed = manifest.Weights.Tensors!.Select(t => (t.Name, t.DType, string.Join(",", t.Shape), t.Offset, t.Length)).ToList();
        var initializers = new[] { RwkvContract.StepGraphFile, RwkvContract.PrefillGraphFile }
            .SelectMany(file => Graph(file).Graph.Initializer.Where(t => t.DataLocation == TensorProto.Types.DataLocation.External))
            .Select(t => (t.Name, DType(t.DataType),
                string.Join(",", t.Dims), long.Parse(t.ExternalData.Single(e => e.Key == "offset").Value, CultureInfo.InvariantCulture),
                long.Parse(t.ExternalData.Single(e => e.Key == "length").Value, CultureInfo.InvariantCulture)))
            .Distinct().OrderBy(t => t.Item4).ToList();
        Assert.That(listed, Is.EqualTo(initializers));
        Assert.That(new FileInfo(Path.Combine(output, RwkvContract.WeightsFile)).Length, Is.EqualTo(manifest.Weights.Bytes));
        Assert.That(Directory.GetDirectories(_work), Has.Length.EqualTo(1), "no temporary directory is left beside the output");

        ModelProto Graph(string file) => ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(output, file)));
        static string DType(int type) => (TensorProto.Types.DataType)type switch
        {
            TensorProto.Types.DataType.Float => "float32",
            TensorProto.Types.DataType.Float16 => "float16",
            TensorProto.Types.DataType.Uint8 => "uint8",
            TensorProto.Types.DataType.Int64 => "int64",
            _ => $"ONNX type {type}",
        };
    }

    [Test]
    public void Export_WritesStateCopyGraph_OneIdentityPerStateTensorInManifestOrder()
    {
        string output = Path.Combine(_work, "model");
        RwkvManifest manifest = RwkvExporter.Export(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), output, new ExportOptions());

        ModelProto model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(output, RwkvContract.StateCopyGraphFile)));

        Assert.That(manifest.StateCopyGraph, Is.Not.Null);
        Assert.That(manifest.StateCopyGraph!.File, Is.EqualTo(RwkvContract.StateCopyGraphFile));
        Assert.That(manifest.StateCopyGraph.Inputs, Is.EqualTo(Enumerable.Range(0, 12).SelectMany(l => new[] { $"past_att_shift.{l}", $"past_wkv.{l}", $"past_ffn_shift.{l}" })));
        Assert.That(manifest.StateCopyGraph.Outputs, Is.EqualTo(manifest.StateCopyGraph.Inputs.Select(n => n.Replace("past_", "present_", StringComparison.Ordinal))));
        Assert.That(model.Graph.Input.Select(i => i.Name), Is.EqualTo(manifest.StateCopyGraph.Inputs));
        Assert.That(model.Graph.Output.Select(o => o.Name), Is.EqualTo(manifest.StateCopyGraph.Outputs));
        Assert.That(model.Graph.Node.Select(n => (n.OpType, n.Input.Single(), n.Output.Single())),
            Is.EqualTo(manifest.State.Select(s => ("Identity", s.Input, s.Output))));
        Assert.That(model.Graph.Initializer, Is.Empty);
        Assert.That(model.Graph.Input.Select(i => string.Join(",", i.Type.TensorType.Shape.Dim.Select(d => d.HasDimParam ? d.DimParam : d.DimValue.ToString(CultureInfo.InvariantCulture)))),
            Is.EqualTo(manifest.State.Select(s => string.Join(",", ["batch", .. s.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture))]))));
        Assert.That(model.MetadataProps.Single(p => p.Key == RwkvContract.ManifestMetadataKey).Value, Is.EqualTo(manifest.ToJson()));
    }

    [Test]
    public void Export_Float16_HalvesMatricesAndKeepsStateFloat32()
    {
        string checkpoint = SharedFixtures.RwkvCppModel("7v0-834K", "FP32");
        RwkvManifest fp32 = RwkvExporter.Export(checkpoint, Path.Combine(_work, "fp32"), new ExportOptions());
        RwkvManifest fp16 = RwkvExporter.Export(checkpoint, Path.Combine(_work, "fp16"), new ExportOptions { WeightDType = WeightDType.Float16 });

        Assert.That(fp16.WeightDType, Is.EqualTo("fp16"));
        Assert.That(fp16.Weights.Bytes, Is.LessThan(fp32.Weights.Bytes * 0.6));
        Assert.That(fp16.State.Select(s => s.DType).Distinct(), Is.EqualTo(new[] { "float32" }));
    }

    [Test]
    public void Export_Manifest_IsFormatVersion2WithAnEmptySessionConfig()
    {
        // Pre-packing stays on: without it the step graph's one-row products round differently from prefill's GEMMs.
        string checkpoint = SharedFixtures.RwkvCppModel("7v0-834K", "FP32");
        RwkvManifest manifest = RwkvExporter.Export(checkpoint, Path.Combine(_work, "out"), new ExportOptions());

        Assert.That(manifest.FormatVersion, Is.EqualTo(2));
        Assert.That(manifest.SessionConfig, Is.Empty);
        Assert.That(File.ReadAllText(Path.Combine(_work, "out", RwkvContract.ManifestFile)), Does.Contain("\"session_config\": {}"));
    }

    [Test]
    public void Export_MissingCheckpoint_ThrowsFileNotFoundAndWritesNothing()
    {
        string missing = Path.Combine(_work, "nope.bin");
        Assert.That(() => RwkvExporter.Export(missing, Path.Combine(_work, "out"), new ExportOptions()),
            Throws.TypeOf<FileNotFoundException>().With.Message.Contains(missing));
        AssertNothingWritten();
    }

    [Test]
    public void Export_WrongMagic_ThrowsNamingFormat()
    {
        byte[] bytes = File.ReadAllBytes(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"));
        bytes[0] ^= 0xFF;
        string path = Write("bad-magic.bin", bytes);
        Assert.That(() => RwkvExporter.Export(path, Path.Combine(_work, "out"), new ExportOptions()),
            Throws.TypeOf<CheckpointFormatException>().With.Message.Contains(path).And.Message.Contains("format"));
        AssertNothingWritten();
    }

    [TestCase(10)]
    [TestCase(30)]
    [TestCase(200_000)]
    [TestCase(3_332_000)]
    public void Export_TruncatedCheckpoint_ThrowsTruncated(int length)
    {
        byte[] bytes = File.ReadAllBytes(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"));
        string path = Write("truncated.bin", bytes[..length]);
        Assert.That(() => RwkvExporter.Export(path, Path.Combine(_work, "out"), new ExportOptions()),
            Throws.TypeOf<CheckpointFormatException>().With.Message.Contains(path)
                .And.Message.Contains("truncated").Or.Message.Contains("shorter than"));
        AssertNothingWritten();
    }

    [Test]
    public void Export_UnknownTensorSet_ListsWhatWasFoundAndExpected()
    {
        // Renaming the RWKV-7 marker tensors leaves a valid file that matches no known version.
        string path = Write("renamed.bin", Patch(File.ReadAllBytes(SharedFixtures.RwkvCppModel("7v0-834K", "FP32")),
            ("att.k_k", "att.q_q"), ("att.time", "att.tyme"), ("ln_x", "ln_y")));
        Assert.That(() => RwkvExporter.Export(path, Path.Combine(_work, "out"), new ExportOptions()),
            Throws.TypeOf<CheckpointFormatException>().With.Message.Contains("not a known RWKV model")
                .And.Message.Contains("blocks.0.att.k_k").And.Message.Contains("Found: emb.weight"));
        AssertNothingWritten();
    }

    [Test]
    public void Export_MissingTensor_NamesIt()
    {
        string path = Write("missing-tensor.bin", Patch(File.ReadAllBytes(SharedFixtures.RwkvCppModel("7v0-834K", "FP32")),
            ("blocks.5.ffn.x_k", "blocks.5.ffn.y_k")));
        Assert.That(() => RwkvExporter.Export(path, Path.Combine(_work, "out"), new ExportOptions()),
            Throws.TypeOf<CheckpointFormatException>().With.Message.Contains("'blocks.5.ffn.x_k'"));
        AssertNothingWritten();
    }

    [Test]
    public void Export_ExistingOutputThatIsNoExport_IsRefusedWithAndWithoutOverwrite()
    {
        string checkpoint = SharedFixtures.RwkvCppModel("7v0-834K", "FP32");
        string output = Path.Combine(_work, "out");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "old.txt"), "old");

        Assert.That(() => RwkvExporter.Export(checkpoint, output, new ExportOptions()),
            Throws.InstanceOf<IOException>().With.Message.Contains("already exists"));
        Assert.That(() => RwkvExporter.Export(checkpoint, output, new ExportOptions { Overwrite = true }),
            Throws.TypeOf<ExportOutputException>().With.Message.Contains("'old.txt'"));
        Assert.That(Directory.GetFileSystemEntries(output).Select(Path.GetFileName), Is.EqualTo(new[] { "old.txt" }));
        Assert.That(File.ReadAllText(Path.Combine(output, "old.txt")), Is.EqualTo("old"));
    }

    [Test]
    public void Export_Cancelled_LeavesNothing()
    {
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress(p =>
        {
            if (p.Done == 50)
            {
                cts.Cancel();
            }
        });
        Assert.That(() => RwkvExporter.Export(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), Path.Combine(_work, "out"), new ExportOptions(), progress, cts.Token),
            Throws.InstanceOf<OperationCanceledException>());
        AssertNothingWritten();
    }

    [TestCaseSource(typeof(FixtureParityTests), nameof(FixtureParityTests.Fixtures))]
    public void Export_Progress_EndsWithEveryTensorCounted(ParityFixture fixture)
    {
        var reports = new List<ExportProgress>();
        RwkvExporter.Export(SharedFixtures.RwkvCppModel(fixture.Model, "FP32"), Path.Combine(_work, "out"),
            new ExportOptions { GroupNormEpsilon = fixture.GroupNormEpsilon }, new SyncProgress(reports.Add));

        ExportProgress lastWeight = reports.Last(p => p.Stage == "weights");
        Assert.That(lastWeight.Done, Is.EqualTo(lastWeight.Total));
        Assert.That(reports.Select(p => p.Stage).Distinct(), Is.EqualTo(new[] { "weights", "step graph", "prefill graph" }));
    }

    [Test]
    public void Options_OpsetOutOfRange_Throws()
    {
        Assert.That(() => new ExportOptions { Opset = 16 }, Throws.TypeOf<ArgumentOutOfRangeException>());
        Assert.That(() => new ExportOptions { GroupNormEpsilon = 0 }, Throws.TypeOf<ArgumentOutOfRangeException>());
    }

    private void AssertNothingWritten() =>
        Assert.That(Directory.GetDirectories(_work), Is.Empty, "a failed export must not leave an output or temporary directory");

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_work, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Replaces every occurrence of each ASCII string by another of the same length.</summary>
    private static byte[] Patch(byte[] bytes, params (string From, string To)[] replacements)
    {
        foreach ((string from, string to) in replacements)
        {
            byte[] f = Encoding.ASCII.GetBytes(from), t = Encoding.ASCII.GetBytes(to);
            Assert.That(t, Has.Length.EqualTo(f.Length));
            for (int i = bytes.AsSpan().IndexOf(f); i >= 0;)
            {
                t.CopyTo(bytes, i);
                int next = bytes.AsSpan(i + 1).IndexOf(f);
                i = next < 0 ? -1 : i + 1 + next;
            }
        }
        return bytes;
    }

    /// <summary>Reports synchronously (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SyncProgress(Action<ExportProgress> report) : IProgress<ExportProgress>
    {
        public void Report(ExportProgress value) => report(value);
    }
}

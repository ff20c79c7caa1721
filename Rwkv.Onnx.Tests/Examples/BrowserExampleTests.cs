using System.Numerics.Tensors;
using System.Text.Json;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.RandomCheckpoints;
using Rwkv.Onnx.Tests.Fixtures;
using Rwkv.Onnx.Tokenization;

namespace Rwkv.Onnx.Tests.Examples;

/// <summary>
/// <c>examples/web</c> in headless Chromium (Debian's <c>/usr/bin/chromium</c>, driven by playwright-core) against our
/// runtime: the page's tokenizer and its greedy tokens on onnxruntime-web's WebAssembly backend, for a byte-level
/// export and a World-tokenized one; and whether the WebGPU backend runs on Chromium's software adapter. A missing
/// browser fails these tests; WebGPU that cannot start is reported in the test output.
/// </summary>
[TestFixture]
public sealed class BrowserExampleTests
{
    private const string Chromium = "/usr/bin/chromium";
    private const int MaxTokens = 24;

    // Latin, Cyrillic, CJK, an emoji (4 UTF-8 bytes), an accent and control characters: World has tokens of every length here.
    private const string Prompt = "Hello, 世界! Привет мир. こんにちは 🌍 \n\t café";

    private readonly ScratchRoot _scratch = new("rwkv-web-example-");
    private string _example = "";
    private string _bytesModel = "";
    private string _worldModel = "";
    private string _webGpuModel = "";

    [OneTimeSetUp]
    public void SetUp()
    {
        _example = ExampleProjects.Directory("web", "playwright-core");
        ExampleProjects.Directory("web", "onnxruntime-web");
        if (!File.Exists(Chromium))
        {
            Assert.Fail($"'{Chromium}' does not exist: install Debian's browser with `apt-get install chromium` (./run-tests.sh does).");
        }
        _scratch.Create();
        _bytesModel = Path.Combine(_scratch.Path, "bytes");
        RwkvExporter.Export(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), _bytesModel, new ExportOptions());
        // A World vocabulary needs 65,536 embeddings: a random RWKV-7 of tiny width (16 MiB of weights), exported
        // with the built-in World tokenizer that its vocabulary size selects.
        string checkpoint = Path.Combine(_scratch.Path, "world.bin");
        RwkvRandomCheckpoint.Write(checkpoint, "7", layers: 2, embd: 32, headSize: 16, vocab: RwkvWorldTokenizer.WorldVocabularySize, ffn: 128, seed: 18);
        _worldModel = Path.Combine(_scratch.Path, "world");
        RwkvExporter.Export(checkpoint, _worldModel, new ExportOptions());
        _webGpuModel = Path.Combine(_scratch.Path, "webgpu");
        RwkvExporter.Export(SharedFixtures.RwkvCppModel("4v0-660K", "FP32"), _webGpuModel, new ExportOptions());
    }

    [OneTimeTearDown]
    public void TearDown() => _scratch.Delete();

    [Test]
    public void Wasm_TokenizesAndGeneratesGreedily_AsOurRuntime_ForBytesAndWorld()
    {
        PageResult[] results = RunPages("wasm", [_bytesModel, _worldModel], Prompt, MaxTokens);

        Assert.That(results, Has.Length.EqualTo(2));
        string[] models = [_bytesModel, _worldModel];
        for (int i = 0; i < models.Length; i++)
        {
            PageResult page = results[i];
            Assert.That(page.Status, Is.EqualTo("done"), $"{Path.GetFileName(models[i])}: {page.Error}");
            (int[] promptIds, int[] ids, string text) = OurGreedy(models[i], Prompt, MaxTokens);
            Assert.Multiple(() =>
            {
                Assert.That(page.PromptIds, Is.EqualTo(promptIds), $"{Path.GetFileName(models[i])}: prompt ids");
                Assert.That(page.Ids, Is.EqualTo(ids), $"{Path.GetFileName(models[i])}: generated ids");
                Assert.That(page.Text, Is.EqualTo(text), $"{Path.GetFileName(models[i])}: streamed text");
            });
        }
        Assert.That(results[1].PromptIds, Has.Length.LessThan(results[0].PromptIds!.Length / 2), "World merges bytes into longer tokens");
    }

    [Test]
    public void WebGpu_OnTheSoftwareAdapter_RunsAsOurRuntime_OrReportsWhyNot()
    {
        // SwiftShader compiles every shader on the CPU: RWKV-4's graphs have the fewest kinds of node (31 CPU seconds in
        // Chromium against RWKV-7's 43), and one prompt token and one step keep this to each graph's first run.
        PageResult page = RunPages("webgpu", [_webGpuModel], "H", 2, TimeSpan.FromMinutes(4)).Single();

        if (page.Status != "done")
        {
            TestContext.Out.WriteLine($"WebGPU did not run in {page.Browser}: {page.Error}");
            return;
        }
        TestContext.Out.WriteLine($"WebGPU ran in {page.Browser}: {page.Ids!.Length} tokens");
        (_, int[] ids, _) = OurGreedy(_webGpuModel, "H", 2);
        Assert.That(page.Ids, Is.EqualTo(ids), "a backend that runs must give our greedy tokens");
    }

    private PageResult[] RunPages(string ep, string[] models, string prompt, int maxTokens, TimeSpan? timeout = null)
    {
        ChildProcess.Result run = ChildProcess.Run("node",
            ["browser-run.mjs", .. models, "--prompt", prompt, "--max", $"{maxTokens}", "--ep", ep, "--chromium", Chromium,
                "--timeout", $"{(timeout ?? ExampleProjects.Timeout).TotalSeconds}"],
            (timeout ?? ExampleProjects.Timeout) + TimeSpan.FromSeconds(30), _example);
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        return [.. run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonSerializer.Deserialize<PageResult>(line, JsonSerializerOptions.Web)!)];
    }

    // Our runtime: the prompt in one prefill run, then the largest logit (first on ties) fed back one step at a time.
    private static (int[] PromptIds, int[] Ids, string Text) OurGreedy(string directory, string prompt, int maxTokens)
    {
        using RwkvModel model = RwkvModel.Load(directory);
        ByteLevelTokenizer tokenizer = RwkvTokenizers.Load(model);
        int[] promptIds = [.. tokenizer.EncodeToIds(prompt)];
        using RwkvRunner runner = model.CreateRunner();
        using RwkvState state = model.CreateState();
        var logits = new float[model.VocabSize];
        runner.Forward(promptIds, state, logits, RwkvForwardMode.Prefill);
        var ids = new List<int>();
        while (ids.Count < maxTokens)
        {
            ids.Add(TensorPrimitives.IndexOfMax(logits));
            if (ids.Count < maxTokens)
            {
                runner.Forward([ids[^1]], state, logits, RwkvForwardMode.Step);
            }
        }
        return (promptIds, [.. ids], tokenizer.Decode(ids));
    }

    /// <summary>The page's <c>window.rwkvResult</c>, as browser-run.mjs prints it.</summary>
    private sealed record PageResult(string Status, string? Error, int[]? PromptIds, int[]? Ids, string? Text, string? Browser);
}

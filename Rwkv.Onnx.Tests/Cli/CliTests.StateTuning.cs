using Rwkv.Onnx.Export.Checkpoints;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Cli;

public sealed partial class CliTests
{
    [Test]
    public void Generate_FromStateTuningPth_EqualsTheSameStateSavedByTheRuntime()
    {
        // A state-tuning file holds only each layer's wkv matrix (RWKV-PEFT's blocks.{i}.att.time_state); the token
        // shifts start at zero. Build such a state from a real prompt, save it both ways, and generate from each.
        string pth = Path.Combine(_work, "time-state.pth");
        string saved = Path.Combine(_work, "state.bin");
        using (RwkvModel model = RwkvModel.Load(_model))
        using (RwkvState state = model.CreateState())
        {
            using (RwkvRunner runner = model.CreateRunner())
            {
                runner.Forward([.. "Once upon a time "u8.ToArray().Select(b => (int)b)], state, new float[256]);
            }
            var views = new List<TorchZipWriter.TensorView>();
            var storages = new Dictionary<string, TorchZipWriter.Storage>();
            IReadOnlyList<RwkvStateTensorInfo> slots = model.Manifest.State;
            for (int i = 0; i < slots.Count; i++)
            {
                if (slots[i].Slot != "wkv")
                {
                    Array.Clear(state.Current[i]);
                    continue;
                }
                string key = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
                storages[key] = new TorchZipWriter.Storage(TensorDType.Float32, state.Current[i]);
                views.Add(TorchZipWriter.TensorView.Contiguous($"blocks.{slots[i].Layer}.att.time_state", key, [.. slots[i].Shape.Select(d => (long)d)]));
            }
            TorchZipWriter.WriteStateDict(pth, views, storages);
            using FileStream file = File.Create(saved);
            state.Save(file);
        }

        CliRun fromPth = Run("generate", _model, "--prompt", "the", "--max-tokens", "40", "--temperature", "1", "--top-p", "1", "--seed", "3", "--state", pth);
        CliRun fromSaved = Run("generate", _model, "--prompt", "the", "--max-tokens", "40", "--temperature", "1", "--top-p", "1", "--seed", "3", "--state", saved);
        CliRun plain = Run("generate", _model, "--prompt", "the", "--max-tokens", "40", "--temperature", "1", "--top-p", "1", "--seed", "3");
        Assert.Multiple(() =>
        {
            Assert.That(fromPth.ExitCode, Is.Zero, fromPth.Stderr);
            Assert.That(fromPth.Stdout, Is.EqualTo(fromSaved.Stdout));
            Assert.That(fromPth.Stdout, Is.Not.EqualTo(plain.Stdout), "the tuned state must change the output");
        });
    }

    [Test]
    public void Generate_StateFileWithoutTimeState_FailsNamingIt()
    {
        CliRun run = Run("generate", _model, "--prompt", "the", "--max-tokens", "2", "--state", SharedFixtures.RwkvCppModel(Model, "FP32"));
        Assert.That(run.ExitCode, Is.Not.Zero);
        Assert.That(run.Stderr, Does.StartWith("error: ").And.Contain("time_state"));
    }
}

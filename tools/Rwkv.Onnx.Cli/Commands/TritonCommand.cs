using System.CommandLine;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.Triton;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// <c>rwkv-onnx triton &lt;model-dir&gt; &lt;repository&gt; [--name N] [--max-batch-size B] [--max-sequences S] [--instances I]
/// [--idle-seconds T] [--state file]</c>: an NVIDIA Triton Inference Server model repository serving an export's step graph, the sequence
/// batcher keeping each sequence's state. A command of its own over an existing export (not an <c>export</c> option): one
/// export then serves our runtime and any number of repositories (other batch sizes, names) without exporting again.
/// </summary>
internal static class TritonCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model-dir") { Description = "An exported model directory (rwkv-onnx export without --target)." };
        var repository = new Argument<string>("repository") { Description = "The Triton model repository to create (a new or empty directory)." };
        var name = new Option<string?>("--name") { Description = "The model's name in the repository (default: the model directory's name).", HelpName = "name" };
        var maxBatch = new Option<int>("--max-batch-size")
        {
            Description = "Most sequences one run batches (Triton's max_batch_size).",
            DefaultValueFactory = _ => TritonRepositoryOptions.DefaultMaxBatchSize,
        }.InRange(NumericRange.From(1, 1 << 20));
        var maxSequences = new Option<int?>("--max-sequences")
        {
            Description = "Sequences one instance keeps at once, the rest waiting (oldest.max_candidate_sequences; default 4 x --max-batch-size).",
        }.InRange(NumericRange.From(1, 1 << 24));
        var instances = new Option<int>("--instances") { Description = "Model instances on each GPU, or on the CPU without one.", DefaultValueFactory = _ => 1 }
            .InRange(NumericRange.From(1, 1024));
        var idle = new Option<double>("--idle-seconds")
        {
            Description = "Seconds a sequence may wait for its next request before Triton drops its state.",
            DefaultValueFactory = _ => TritonRepositoryOptions.DefaultSequenceIdleTimeout.TotalSeconds,
        }.InRange(NumericRange.From(1e-6, 1e9));
        var command = new Command("triton", "Write an NVIDIA Triton Inference Server model repository that serves an export, state kept per sequence.")
        {
            model, repository, name, maxBatch, maxSequences, instances, idle,
        };
        var state = new InitialStateOption(); // every sequence starts from it: a state-tuning file, or a saved prompt's state
        state.AddTo(command);
        name.Validators.Add(result =>
        {
            if (OptionValues.TryGet(result, out string? value) && value is not null && !TritonRepository.IsValidModelName(value))
            {
                result.AddError($"--name: '{value}' is not usable as a Triton model directory; expected letters, digits, '_', '-' and '.', not starting with '.'.");
            }
        });
        command.SetAction(parsed =>
        {
            string modelDirectory = ModelDirectory.Require(parsed.GetRequiredValue(model));
            string repositoryDirectory = parsed.GetRequiredValue(repository);
            state.Check(parsed);
            var options = new TritonRepositoryOptions
            {
                ModelName = parsed.GetValue(name),
                MaxBatchSize = parsed.GetValue(maxBatch),
                MaxSequences = parsed.GetValue(maxSequences),
                Instances = parsed.GetValue(instances),
                SequenceIdleTimeout = TimeSpan.FromSeconds(parsed.GetValue(idle)),
                InitialStates = StartState(parsed, state, modelDirectory),
            };
            string written;
            try
            {
                written = TritonRepository.Write(modelDirectory, repositoryDirectory, options);
            }
            catch (ExportOutputException e) when (e.Conflict != ExportOutputConflict.ExportInProgress)
            {
                // The exporter's sentences about its output start "Output 'x' ...": the argument's name takes that word's place.
                throw new UsageException($"repository: {(e.Message.StartsWith("Output ", StringComparison.Ordinal) ? e.Message["Output ".Length..] : e.Message)}");
            }
            catch (ArgumentException e) when (e.ParamName == "modelDirectory")
            {
                throw new UsageException($"{Cli.UserMessage(e)} Pass --name.");
            }
            TextWriter stdout = parsed.InvocationConfiguration.Output;
            stdout.WriteLine($"wrote Triton model '{Path.GetFileName(written)}' to {repositoryDirectory}:");
            foreach (FileInfo file in new DirectoryInfo(written).EnumerateFiles("*", SearchOption.AllDirectories).OrderBy(f => f.FullName, StringComparer.Ordinal))
            {
                stdout.WriteLine($"  {Path.GetRelativePath(repositoryDirectory, file.FullName),-40} {ExportCommand.FormatSize(file.Length),10}");
            }
            stdout.WriteLine($"start: tritonserver --model-repository={Path.GetFullPath(repositoryDirectory)}  (see {Path.Combine(written, "README.md")})");
            return ExitCodes.Success;
        });
        return command;
    }

    // The --state tensors that differ from the manifest's start (the others keep zero_data or the manifest's file), or null.
    private static Dictionary<string, float[]>? StartState(ParseResult parsed, InitialStateOption option, string modelDirectory)
    {
        if (parsed.GetResult(option.Symbol) is null)
        {
            return null;
        }
        using RwkvModel model = RwkvModel.Load(modelDirectory);
        using RwkvState? start = option.Load(parsed, model);
        if (start is null)
        {
            return null;
        }
        Dictionary<string, float[]> tensors = SavedStateTensors.Read(start, model.Manifest, "--state");
        return model.Manifest.State
            .Where(s => tensors[s.Input].Any(v => BitConverter.SingleToInt32Bits(v) != BitConverter.SingleToInt32Bits(s.Initial)))
            .ToDictionary(s => s.Input, s => tensors[s.Input], StringComparer.Ordinal);
    }
}

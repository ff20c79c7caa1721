using System.Buffers.Binary;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Export.Output;

namespace Rwkv.Onnx.Export.Triton;

/// <summary>
/// Writes an NVIDIA Triton Inference Server model repository that serves an export's step graph with Triton's ONNX
/// Runtime backend, the sequence batcher keeping each sequence's state (implicit state):
/// <c>{repository}/{name}/config.pbtxt</c>, <c>1/model.onnx</c> with its external-data file beside it (hard links where
/// the file system allows, copies otherwise), <c>initial_state/</c> files for state tensors that do not start at zero,
/// and a README.md. Everything is derived from the export's manifest and the step graph's declared inputs and outputs.
/// </summary>
public static class TritonRepository
{
    /// <summary>The version directory the model's files go in.</summary>
    public const string VersionDirectory = "1";

    /// <summary>The model file name Triton's ONNX Runtime backend opens by default.</summary>
    public const string ModelFile = "model.onnx";

    /// <summary>
    /// Writes the repository into <paramref name="repositoryDirectory"/>, which must not exist or be an empty directory.
    /// It is written to a temporary sibling and renamed into place, so it is complete or absent.
    /// </summary>
    /// <param name="modelDirectory">An export (<c>rwkv-onnx export</c> without <c>--target</c>).</param>
    /// <param name="repositoryDirectory">The repository to create.</param>
    /// <param name="options">Name, batching and instances; null for the defaults.</param>
    /// <returns>The model's directory inside the repository.</returns>
    /// <exception cref="ModelContractException">
    /// <paramref name="modelDirectory"/> is no export (or an onnxruntime-genai one), or its step graph cannot be served as
    /// Triton needs it (a state tensor that differs from the manifest, a first dimension that is not the batch, a session
    /// setting the backend cannot apply).
    /// </exception>
    /// <exception cref="ArgumentException">
    /// No <see cref="TritonRepositoryOptions.ModelName"/> and the model directory's name is not a usable model name, or an
    /// initial state names no state tensor or has the wrong number of values.
    /// </exception>
    /// <exception cref="ExportOutputException">The repository exists and is not empty, is or holds the model directory, or is a protected directory.</exception>
    /// <exception cref="IOException">Reading the export or writing the repository failed.</exception>
    public static string Write(string modelDirectory, string repositoryDirectory, TritonRepositoryOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelDirectory);
        ArgumentException.ThrowIfNullOrWhiteSpace(repositoryDirectory);
        options ??= new TritonRepositoryOptions();
        RwkvManifest manifest = LoadManifest(modelDirectory);
        string stepPath = Path.Combine(modelDirectory, manifest.StepGraph.File);
        GraphSignature step = GraphSignature.Read(stepPath);
        IReadOnlyDictionary<string, float[]> starts = Starts(manifest, options);
        TritonModel model = TritonModel.Create(manifest, step, stepPath, state => starts.ContainsKey(state.Input));
        string name = options.ModelName ?? DefaultName(modelDirectory);

        var destination = new ExportDestination(repositoryDirectory);
        destination.CheckNotProtected();
        destination.CheckNotInput([modelDirectory]);
        CheckAbsentOrEmpty(destination);
        string temporary = destination.CreateTemporary();
        try
        {
            string modelRoot = Path.Combine(temporary, name);
            string version = Path.Combine(modelRoot, VersionDirectory);
            Directory.CreateDirectory(version);
            HardLink.CreateOrCopy(stepPath, Path.Combine(version, ModelFile));
            foreach (string file in step.ExternalDataFiles)
            {
                HardLink.CreateOrCopy(ExternalDataPath(modelDirectory, stepPath, file), Path.Combine(version, file));
            }
            WriteInitialStates(Path.Combine(modelRoot, TritonModelConfig.InitialStateDirectory), model, starts);
            File.WriteAllText(Path.Combine(modelRoot, TritonModelConfig.File), TritonModelConfig.Format(name, model, manifest, options));
            File.WriteAllText(Path.Combine(modelRoot, TritonReadme.File), TritonReadme.Format(name, model, manifest, options, step.ExternalDataFiles));
            destination.Commit(temporary, overwrite: false);
        }
        catch
        {
            destination.Abandon(temporary);
            throw;
        }
        return Path.Combine(destination.FullPath, name);
    }

    /// <summary>Whether <paramref name="name"/> can be a Triton model's directory: letters, digits, <c>_</c>, <c>-</c>, <c>.</c>, not starting with <c>.</c>.</summary>
    public static bool IsValidModelName(string name) =>
        name.Length > 0 && name[0] != '.' && name.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '_' or '-' or '.');

    private static RwkvManifest LoadManifest(string modelDirectory)
    {
        if (!File.Exists(Path.Combine(modelDirectory, RwkvContract.ManifestFile)) && File.Exists(Path.Combine(modelDirectory, Genai.GenaiConfig.File)))
        {
            // Its state is packed for genai (conv_state/recurrent_state, pp's start folded into the graph) and it has no manifest.
            throw new ModelContractException(modelDirectory, Genai.GenaiConfig.File,
                $"'{modelDirectory}' is an onnxruntime-genai export (export --target genai): its graphs pack the state for genai and it has no {RwkvContract.ManifestFile}; export the checkpoint again without --target and write the Triton repository from that.");
        }
        return RwkvManifest.Load(modelDirectory);
    }

    // The state tensors that start from a file, with their values: the options' given values, or the manifest's non-zero fill.
    private static Dictionary<string, float[]> Starts(RwkvManifest manifest, TritonRepositoryOptions options)
    {
        var starts = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach ((string input, float[] values) in options.InitialStates ?? new Dictionary<string, float[]>())
        {
            RwkvStateTensorInfo state = manifest.State.FirstOrDefault(s => s.Input == input)
                ?? throw new ArgumentException($"Initial state '{input}' names no state tensor of the model; expected a state input such as '{manifest.State[0].Input}'.", nameof(options));
            long count = state.Shape.Aggregate(1L, (n, d) => n * d);
            if (values.Length != count)
            {
                throw new ArgumentException($"Initial state '{input}' has {values.Length} values; the state tensor has shape [{string.Join(", ", state.Shape)}], {count} values.", nameof(options));
            }
            starts[input] = values;
        }
        foreach (RwkvStateTensorInfo state in manifest.State.Where(s => s.Initial != 0 && !starts.ContainsKey(s.Input)))
        {
            float[] values = new float[state.Shape.Aggregate(1, (n, d) => n * d)];
            Array.Fill(values, state.Initial);
            starts[state.Input] = values;
        }
        return starts;
    }

    private static void WriteInitialStates(string directory, TritonModel model, IReadOnlyDictionary<string, float[]> starts)
    {
        foreach (TritonStateEntry state in model.States.Where(s => s.InitialFile is not null))
        {
            Directory.CreateDirectory(directory);
            float[] values = starts[state.Info.Input];
            byte[] bytes = new byte[values.Length * sizeof(float)];
            for (int i = 0; i < values.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), values[i]);
            }
            File.WriteAllBytes(Path.Combine(directory, state.InitialFile!), bytes); // the Where above
        }
    }

    // An external-data location is relative to the graph's directory and must stay inside it.
    private static string ExternalDataPath(string modelDirectory, string graphPath, string location)
    {
        if (Path.IsPathRooted(location) || Path.GetFileName(location) != location)
        {
            throw new ModelContractException(graphPath, location,
                $"Graph '{graphPath}' keeps weights in '{location}'; expected a file beside the graph, as every export writes.");
        }
        return Path.Combine(modelDirectory, location);
    }

    private static string DefaultName(string modelDirectory)
    {
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelDirectory)));
        return IsValidModelName(name)
            ? name
            : throw new ArgumentException(
                $"The model directory's name '{name}' is not usable as a Triton model name; give one of letters, digits, '_', '-' and '.'.", nameof(modelDirectory));
    }

    private static void CheckAbsentOrEmpty(ExportDestination destination)
    {
        string path = destination.FullPath;
        bool exists = Directory.Exists(path) || File.Exists(path) || new FileInfo(path).LinkTarget is not null;
        if (exists && !(Directory.Exists(path) && new DirectoryInfo(path).LinkTarget is null && !Directory.EnumerateFileSystemEntries(path).Any()))
        {
            string what = Directory.Exists(path) ? "is not empty" : "is a file";
            throw new ExportOutputException($"Repository '{destination.AsGiven}' already exists and {what}; choose a new directory, nothing was written.",
                destination.AsGiven, ExportOutputConflict.Exists, path, what);
        }
    }
}

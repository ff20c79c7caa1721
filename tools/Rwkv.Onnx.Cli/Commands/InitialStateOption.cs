using System.CommandLine;
using Rwkv.Onnx.Exceptions;
using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// The <c>--state &lt;file&gt;</c> option: an initial state saved by <see cref="RwkvState.Save"/>, or a state-tuning
/// checkpoint (RWKV-PEFT's <c>.pth</c> with <c>blocks.{i}.att.time_state</c>, or any format the exporter reads).
/// </summary>
internal sealed class InitialStateOption
{
    private const string Expected =
        "expected a state saved by RwkvState.Save (a file starting with 'RWKS') or a state-tuning checkpoint with blocks.{i}.att.time_state (RWKV-PEFT .pth)";

    private const string OptionName = "--state";

    private readonly Option<string?> _state = new(OptionName)
    {
        Description = "Start from a state saved with RwkvState.Save (header 'RWKS') or a state-tuning checkpoint with blocks.{i}.att.time_state (RWKV-PEFT .pth).",
        HelpName = "file",
    };

    /// <summary>The option itself, to ask the parse result whether it was given.</summary>
    public Option<string?> Symbol => _state;

    /// <summary>Adds the option to <paramref name="command"/>.</summary>
    public void AddTo(Command command) => command.Add(_state);

    /// <summary>
    /// Checks, before the model is loaded (which takes seconds), that the file the command line names exists and is
    /// one of the two kinds; <see cref="Load"/> checks it against the model.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The path is a directory, or the file is neither kind of state.</exception>
    public void Check(ParseResult parsed)
    {
        if (parsed.GetValue(_state) is { } path)
        {
            CheckFile(OptionName, path);
        }
    }

    /// <summary>As <see cref="Check"/> for a file named elsewhere on the command line; messages start with <paramref name="label"/>.</summary>
    public static void CheckFile(string label, string path)
    {
        if (!IsSavedState(label, path))
        {
            using RwkvCheckpoint timeState = OpenTimeState(label, path);
        }
    }

    /// <summary>Loads the state the command line names, or returns null. Every failure names the option and the file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The path is a directory, or the file is neither kind of state, is truncated or corrupt, or does not fit the model.</exception>
    public RwkvState? Load(ParseResult parsed, RwkvModel model)
    {
        string? path = parsed.GetValue(_state);
        return path is null ? null : LoadFile(OptionName, path, model);
    }

    /// <summary>As <see cref="Load"/> for a file named elsewhere on the command line; messages start with <paramref name="label"/>.</summary>
    public static RwkvState LoadFile(string label, string path, RwkvModel model)
    {
        if (IsSavedState(label, path))
        {
            try
            {
                using FileStream stream = File.OpenRead(path);
                return RwkvState.Load(model, stream);
            }
            catch (Exception e) when (e is EndOfStreamException or InvalidDataException or StateMismatchException or NonFiniteValueException)
            {
                throw new InvalidDataException($"{label}: saved state '{path}' cannot be loaded: {e.Message}", e);
            }
        }
        using RwkvCheckpoint timeState = OpenTimeState(label, path);
        try
        {
            return RwkvState.FromTimeState(model, timeState);
        }
        catch (Exception e) when (e is StateMismatchException or NonFiniteValueException or CheckpointFormatException)
        {
            throw new InvalidDataException($"{label}: {e.Message}", e);
        }
    }

    // A file that is not a saved state, opened as a state-tuning checkpoint.
    private static RwkvCheckpoint OpenTimeState(string label, string path)
    {
        try
        {
            return RwkvCheckpoint.Open(path);
        }
        catch (CheckpointFormatException e)
        {
            throw new InvalidDataException($"{label}: '{path}' is neither kind of state file; {Expected}.", e);
        }
    }

    // Whether the file starts with the saved state's magic; a missing file or a directory is an error naming the option.
    private static bool IsSavedState(string label, string path)
    {
        if (Directory.Exists(path))
        {
            throw new InvalidDataException($"{label}: '{path}' is a directory; {Expected}.");
        }
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{label}: state file '{path}' does not exist.", path);
        }
        Span<byte> magic = stackalloc byte[4];
        using FileStream stream = File.OpenRead(path);
        return stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual("RWKS"u8);
    }
}

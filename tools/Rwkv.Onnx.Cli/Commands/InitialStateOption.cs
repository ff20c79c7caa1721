using System.CommandLine;
using Rwkv.Onnx.Export.Checkpoints;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// The <c>--state &lt;file&gt;</c> option: an initial state saved by <see cref="RwkvState.Save"/>, or a state-tuning
/// checkpoint (RWKV-PEFT's <c>.pth</c> with <c>blocks.{i}.att.time_state</c>, or any format the exporter reads).
/// </summary>
internal sealed class InitialStateOption
{
    private readonly Option<string?> _state = new("--state")
    {
        Description = "Start from a state saved with RwkvState.Save (header 'RWKS') or a state-tuning checkpoint with blocks.{i}.att.time_state (RWKV-PEFT .pth).",
        HelpName = "file",
    };

    /// <summary>Adds the option to <paramref name="command"/>.</summary>
    public void AddTo(Command command) => command.Add(_state);

    /// <summary>Loads the state the command line names, or returns null.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public RwkvState? Load(ParseResult parsed, RwkvModel model)
    {
        string? path = parsed.GetValue(_state);
        if (path is null)
        {
            return null;
        }
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"--state: state file '{path}' does not exist.", path);
        }
        if (IsSavedState(path))
        {
            using FileStream stream = File.OpenRead(path);
            return RwkvState.Load(model, stream);
        }
        using RwkvCheckpoint timeState = RwkvCheckpoint.Open(path);
        return RwkvState.FromTimeState(model, timeState);
    }

    private static bool IsSavedState(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        using FileStream stream = File.OpenRead(path);
        return stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual("RWKS"u8);
    }
}

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// Ctrl-C in an interactive chat. The first Ctrl-C during a reply stops that reply (between two tokens) and the chat
/// goes on; a second one during the same reply, or one at the prompt, is left to the runtime, which ends the program
/// as SIGINT does (exit status 130).
/// </summary>
/// <remarks>
/// <see cref="Console.CancelKeyPress"/> handlers run on another thread than the chat loop, hence the lock.
/// </remarks>
internal sealed class ReplyInterrupter : IDisposable
{
    private readonly Lock _lock = new();
    private CancellationTokenSource? _reply;
    private bool _attached;

    /// <summary>Creates an interrupter that handles the console's Ctrl-C until disposed.</summary>
    public static ReplyInterrupter AttachToConsole()
    {
        var interrupter = new ReplyInterrupter();
        Console.CancelKeyPress += interrupter.OnCancelKeyPress;
        interrupter._attached = true;
        return interrupter;
    }

    /// <summary>A reply starts; the returned token is cancelled by the first interrupt until <see cref="EndReply"/>.</summary>
    public CancellationToken BeginReply()
    {
        lock (_lock)
        {
            _reply?.Dispose();
            _reply = new CancellationTokenSource();
            return _reply.Token;
        }
    }

    /// <summary>The reply has ended (finished or stopped); an interrupt now ends the program.</summary>
    public void EndReply()
    {
        lock (_lock)
        {
            _reply?.Dispose();
            _reply = null;
        }
    }

    /// <summary>Handles one interrupt.</summary>
    /// <returns>True when a reply was running and is now asked to stop; false when the interrupt should end the program.</returns>
    public bool Interrupt()
    {
        lock (_lock)
        {
            if (_reply is null || _reply.IsCancellationRequested)
            {
                return false;
            }
            _reply.Cancel();
            return true;
        }
    }

    /// <summary>Stops handling Ctrl-C.</summary>
    public void Dispose()
    {
        if (_attached)
        {
            Console.CancelKeyPress -= OnCancelKeyPress;
            _attached = false;
        }
        EndReply();
    }

    private void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
    {
        if (e.SpecialKey == ConsoleSpecialKey.ControlC)
        {
            e.Cancel = Interrupt();
        }
    }
}

using Microsoft.Extensions.Hosting;

namespace Rwkv.Onnx.Server.Hosting;

/// <summary>
/// A host lifetime that installs no Ctrl+C or SIGTERM handler: whoever runs the server decides when it stops
/// (<see cref="RwkvServer.RunAsync"/>'s token; the CLI maps the signals to it), so a server inside a test process or
/// an application does not take over the process's signals.
/// </summary>
internal sealed class CallerOwnedLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

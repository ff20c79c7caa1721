using Microsoft.AspNetCore.Http;

namespace Rwkv.Onnx.Server.Requests;

/// <summary>
/// Ends a request's sequence when the client disconnects (<see cref="HttpContext.RequestAborted"/>) or the server's time
/// limit passes, whichever comes first; <see cref="TimedOut"/> tells the two apart.
/// </summary>
internal sealed class RequestDeadline : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly HttpContext _context;

    public RequestDeadline(HttpContext context, TimeSpan limit)
    {
        _context = context;
        _source = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        _source.CancelAfter(limit);
        Limit = limit;
    }

    public TimeSpan Limit { get; }

    public CancellationToken Token => _source.Token;

    public bool ClientGone => _context.RequestAborted.IsCancellationRequested;

    public bool TimedOut => _source.IsCancellationRequested && !ClientGone;

    public void Dispose() => _source.Dispose();
}

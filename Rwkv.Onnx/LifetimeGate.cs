namespace Rwkv.Onnx;

/// <summary>
/// Orders use against disposal without locks: users enter and exit around native calls, and
/// <see cref="Close"/> marks the owner disposed and then waits until the users inside have left, so the
/// native objects are never released under a running call. Entering costs two interlocked operations and
/// allocates nothing.
/// </summary>
/// <remarks>
/// A shared gate (<see cref="RwkvModel"/>) admits any number of users; an exclusive gate (<see cref="RwkvRunner"/>,
/// <see cref="RwkvState"/>) admits one and reports a second concurrent user as an error, because those types
/// are not thread-safe and concurrent use would silently mix two conversations.
/// </remarks>
internal sealed class LifetimeGate(object owner, bool exclusive)
{
    private int _users;
    private int _closed;

    /// <summary>Whether <see cref="Close"/> has been called.</summary>
    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>Enters the gate; pair with <see cref="Exit"/> in a <c>finally</c>.</summary>
    /// <exception cref="ObjectDisposedException">The owner has been disposed.</exception>
    /// <exception cref="InvalidOperationException">The gate is exclusive and another thread is inside.</exception>
    public void Enter()
    {
        if (exclusive)
        {
            if (Interlocked.CompareExchange(ref _users, 1, 0) != 0)
            {
                throw new InvalidOperationException(
                    $"This {owner.GetType().Name} is already in use on another thread; it is not thread-safe. Use one per conversation or thread.");
            }
        }
        else
        {
            Interlocked.Increment(ref _users);
        }
        // Interlocked operations are full fences: either Close sees this user, or this user sees Close.
        if (Volatile.Read(ref _closed) != 0)
        {
            Interlocked.Decrement(ref _users);
            ObjectDisposedException.ThrowIf(true, owner);
        }
    }

    /// <summary>Leaves the gate.</summary>
    public void Exit() => Interlocked.Decrement(ref _users);

    /// <summary>Marks the owner disposed, then waits until no user is inside.</summary>
    /// <returns>False if the gate was already closed (the owner is being or has been disposed).</returns>
    public bool Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return false;
        }
        var spin = new SpinWait();
        while (Volatile.Read(ref _users) != 0)
        {
            spin.SpinOnce();
        }
        return true;
    }
}

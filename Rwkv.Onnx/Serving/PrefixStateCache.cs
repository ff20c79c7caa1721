namespace Rwkv.Onnx.Serving;

/// <summary>
/// States at the ends of prompt prefixes, keyed by (start-state name, token prefix), bounded by bytes, least recently used
/// out first. <see cref="FindLongest"/> returns the entry of the longest cached prefix of a prompt. Used by the engine's
/// loop thread only: not thread-safe; the counters are read with <see cref="Volatile"/> semantics from other threads.
/// </summary>
/// <remarks>
/// A lookup scans the entries and compares tokens; with entries of megabytes and a cache of hundreds of megabytes there
/// are at most some hundreds, so the scan costs microseconds beside the prefill it saves.
/// </remarks>
internal sealed class PrefixStateCache
{
    private readonly long _capacityBytes;
    private readonly LinkedList<Entry> _lru = new();   // most recently used first

    public PrefixStateCache(long capacityBytes) => _capacityBytes = capacityBytes;

    /// <summary>Whether the cache keeps anything (capacity above 0).</summary>
    public bool Enabled => _capacityBytes > 0;

    public int Count => _lru.Count;

    /// <summary>The entries, most recently used first.</summary>
    public IEnumerable<Entry> Entries => _lru;

    public long Bytes { get; private set; }

    /// <summary>
    /// The cached entry for the longest prefix of <paramref name="prompt"/> (at most all of it) that started from
    /// <paramref name="stateName"/>, marked as recently used; null when none.
    /// </summary>
    public Entry? FindLongest(string? stateName, ReadOnlySpan<int> prompt)
    {
        LinkedListNode<Entry>? best = null;
        for (LinkedListNode<Entry>? node = _lru.First; node is not null; node = node.Next)
        {
            Entry entry = node.Value;
            if (entry.Tokens.Length <= prompt.Length && entry.Tokens.Length > (best?.Value.Tokens.Length ?? 0)
                && entry.StateName == stateName && prompt.StartsWith(entry.Tokens))
            {
                best = node;
            }
        }
        if (best is null)
        {
            return null;
        }
        _lru.Remove(best);
        _lru.AddFirst(best);
        return best.Value;
    }

    /// <summary>
    /// Keeps <paramref name="snapshot"/> as the state after <paramref name="prefix"/> (from <paramref name="stateName"/>), evicting
    /// least recently used entries to stay within the capacity. An entry larger than the whole capacity is not kept; an
    /// existing entry for the same key is only marked as recently used.
    /// </summary>
    public void Add(string? stateName, ReadOnlySpan<int> prefix, StateSnapshot snapshot)
    {
        long bytes = snapshot.Bytes + ((long)prefix.Length * sizeof(int));
        if (bytes > _capacityBytes)
        {
            return;
        }
        for (LinkedListNode<Entry>? node = _lru.First; node is not null; node = node.Next)
        {
            if (node.Value.StateName == stateName && prefix.SequenceEqual(node.Value.Tokens))
            {
                _lru.Remove(node);
                _lru.AddFirst(node);
                return;
            }
        }
        while (Bytes + bytes > _capacityBytes)
        {
            Bytes -= _lru.Last!.Value.Bytes; // not empty: bytes <= capacity, so a full cache has entries
            _lru.RemoveLast();
        }
        _lru.AddFirst(new Entry(stateName, prefix.ToArray(), snapshot, bytes));
        Bytes += bytes;
    }

    /// <summary>One cached prefix: its start-state name, its tokens, the state (and logits) after them, and its size in bytes.</summary>
    internal sealed record Entry(string? StateName, int[] Tokens, StateSnapshot Snapshot, long Bytes);
}

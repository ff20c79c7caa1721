namespace Rwkv.Onnx.Export.Checkpoints;

/// <summary>
/// A Python <c>dict</c> or <c>collections.OrderedDict</c> read by <see cref="RestrictedUnpickler"/>:
/// entries in insertion order; setting an existing key replaces its value in place, as Python does.
/// </summary>
internal sealed class PickleDict
{
    private readonly List<KeyValuePair<object, object?>> _entries = [];
    private readonly Dictionary<object, int> _index = [];

    /// <summary>Entries in insertion order.</summary>
    public IReadOnlyList<KeyValuePair<object, object?>> Entries => _entries;

    /// <summary>Number of entries.</summary>
    public int Count => _entries.Count;

    /// <summary>Sets <paramref name="key"/> to <paramref name="value"/>.</summary>
    public void Set(object key, object? value)
    {
        if (_index.TryGetValue(key, out int at))
        {
            _entries[at] = new(key, value);
        }
        else
        {
            _index.Add(key, _entries.Count);
            _entries.Add(new(key, value));
        }
    }

    /// <summary>The value of <paramref name="key"/>, or null when absent.</summary>
    public object? GetValueOrDefault(object key) => _index.TryGetValue(key, out int at) ? _entries[at].Value : null;
}

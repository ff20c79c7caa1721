using System.Text;

namespace Rwkv.Onnx.Generation;

/// <summary>
/// Finds stop strings in text that arrives piece by piece. Text that could still be the start of a stop string is
/// held back; everything before it is released. Once a stop string is complete, the text before it is released
/// and the rest dropped.
/// </summary>
internal sealed class StopStringMatcher(IReadOnlyList<string> stopStrings)
{
    private readonly StringBuilder _pending = new();

    /// <summary>Whether a stop string has been found.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Adds <paramref name="piece"/>; returns the text that can be released now.</summary>
    public string Push(string piece)
    {
        if (Stopped)
        {
            return "";
        }
        if (stopStrings.Count == 0)
        {
            return piece;
        }
        _pending.Append(piece);
        string pending = _pending.ToString();
        int stopAt = -1;
        foreach (string stop in stopStrings)
        {
            int index = pending.IndexOf(stop, StringComparison.Ordinal);
            if (index >= 0 && (stopAt < 0 || index < stopAt))
            {
                stopAt = index;
            }
        }
        if (stopAt >= 0)
        {
            Stopped = true;
            _pending.Clear();
            return pending[..stopAt];
        }
        int hold = 0;
        foreach (string stop in stopStrings)
        {
            // The longest suffix of the pending text that is a proper prefix of this stop string.
            for (int length = Math.Min(stop.Length - 1, pending.Length); length > hold; length--)
            {
                if (pending.AsSpan(pending.Length - length).SequenceEqual(stop.AsSpan(0, length)))
                {
                    hold = length;
                    break;
                }
            }
        }
        _pending.Clear().Append(pending, pending.Length - hold, hold);
        return pending[..^hold];
    }

    /// <summary>Releases the held text at the end of generation (it never became a stop string).</summary>
    public string Flush()
    {
        string rest = Stopped ? "" : _pending.ToString();
        _pending.Clear();
        return rest;
    }
}

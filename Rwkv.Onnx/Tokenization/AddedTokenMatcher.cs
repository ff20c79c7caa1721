namespace Rwkv.Onnx.Tokenization;

/// <summary>
/// Splits text on a set of added tokens, leftmost-longest (as Hugging Face <c>tokenizers</c> does): scanning from the
/// start, the first position where some token occurs wins, and there the longest token.
/// </summary>
internal sealed class AddedTokenMatcher
{
    private readonly Dictionary<char, (string Content, int Id)[]> _byFirstChar;

    public AddedTokenMatcher(IEnumerable<(string Content, int Id)> tokens) =>
        _byFirstChar = tokens
            .Where(t => t.Content.Length > 0)
            .GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ToArray());

    /// <summary>
    /// Splits <paramref name="text"/> into consecutive segments that cover it: each added token (its id) and each
    /// stretch between them (id -1). An empty text gives no segments.
    /// </summary>
    public List<(int Start, int Length, int Id)> Split(ReadOnlySpan<char> text)
    {
        var segments = new List<(int Start, int Length, int Id)>();
        int gapStart = 0, i = 0;
        while (i < text.Length)
        {
            (string Content, int Id)? match = null;
            if (_byFirstChar.TryGetValue(text[i], out (string Content, int Id)[]? candidates))
            {
                foreach ((string Content, int Id) candidate in candidates)
                {
                    if (text[i..].StartsWith(candidate.Content, StringComparison.Ordinal))
                    {
                        match = candidate;
                        break;
                    }
                }
            }
            if (match is not { } token)
            {
                i++;
                continue;
            }
            if (i > gapStart)
            {
                segments.Add((gapStart, i - gapStart, -1));
            }
            segments.Add((i, token.Content.Length, token.Id));
            i += token.Content.Length;
            gapStart = i;
        }
        if (text.Length > gapStart)
        {
            segments.Add((gapStart, text.Length - gapStart, -1));
        }
        return segments;
    }
}

using System.Globalization;
using System.Text;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// The escapes that text given on the command line may use (<c>--prompt</c>, <c>--stop</c>, <c>tokenize --text</c>):
/// <c>\n</c>, <c>\t</c>, <c>\r</c>, <c>\xHH</c> (the character U+00HH, as in a Python string) and <c>\\</c> for a
/// backslash. A terminal shows control characters in the same form, so what it shows can be typed back.
/// </summary>
internal static class TextEscapes
{
    private const string Accepted = "use \\n, \\t, \\r, \\xHH, or \\\\ for a backslash";

    /// <summary>Replaces the escapes in <paramref name="value"/>, the text of <paramref name="option"/>.</summary>
    /// <exception cref="UsageException">A backslash does not start one of the escapes.</exception>
    public static string Unescape(string value, string option)
    {
        int first = value.IndexOf('\\', StringComparison.Ordinal);
        if (first < 0)
        {
            return value;
        }
        var text = new StringBuilder(value.Length);
        text.Append(value, 0, first);
        for (int i = first; i < value.Length; i++)
        {
            if (value[i] != '\\')
            {
                text.Append(value[i]);
                continue;
            }
            int at = i + 1;   // 1-based position of the backslash, for the message
            if (i + 1 == value.Length)
            {
                throw new UsageException($"{option}: the text ends with a lone backslash; write \\\\ for a backslash.");
            }
            char kind = value[++i];
            switch (kind)
            {
                case '\\': text.Append('\\'); break;
                case 'n': text.Append('\n'); break;
                case 't': text.Append('\t'); break;
                case 'r': text.Append('\r'); break;
                case 'x':
                    if (value.Length - (i + 1) < 2
                        || !byte.TryParse(value.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte code))
                    {
                        throw new UsageException($"{option}: '\\x' at character {at} needs two hex digits, as in \\x00; {Accepted}.");
                    }
                    text.Append((char)code);
                    i += 2;
                    break;
                default:
                    string shown = char.IsHighSurrogate(kind) && i + 1 < value.Length ? value.Substring(i, 2) : kind.ToString();
                    throw new UsageException($"{option}: '\\{Escape(shown)}' at character {at} is not an escape; {Accepted}.");
            }
        }
        return text.ToString();
    }

    /// <summary>
    /// <paramref name="text"/> with every control character written as its escape (<c>\r</c> for a carriage return,
    /// <c>\xHH</c> otherwise), line feeds and tabs included; other characters unchanged.
    /// </summary>
    public static string Escape(string text)
    {
        if (!text.AsSpan().ContainsAnyInRange('\0', '\x1f') && !text.AsSpan().ContainsAnyInRange('\x7f', '\x9f'))
        {
            return text;
        }
        var escaped = new StringBuilder(text.Length + 8);
        foreach (char c in text)
        {
            AppendEscaped(escaped, c);
        }
        return escaped.ToString();
    }

    /// <summary>Appends <paramref name="c"/>, escaped if it is a control character.</summary>
    public static void AppendEscaped(StringBuilder text, char c)
    {
        if (!char.IsControl(c))
        {
            text.Append(c);
            return;
        }
        text.Append(c switch
        {
            '\n' => "\\n",
            '\t' => "\\t",
            '\r' => "\\r",
            _ => string.Create(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}"),
        });
    }
}

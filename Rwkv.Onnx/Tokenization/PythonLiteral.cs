using System.Buffers;
using System.Globalization;
using System.Text;

namespace Rwkv.Onnx.Tokenization;

/// <summary>
/// Parses one Python string or bytes literal, as <c>repr()</c> writes them (the RWKV World vocabulary stores each
/// token that way), into the bytes it stands for: a <c>str</c> literal's characters encoded as UTF-8, a
/// <c>bytes</c> literal's bytes as they are.
/// </summary>
/// <remarks>
/// Follows the Python 3 lexical rules for single-line literals: prefix <c>b</c>/<c>B</c> (bytes) or none (str),
/// <c>'</c> or <c>"</c> quotes, and the escapes <c>\\ \' \" \a \b \f \n \r \t \v</c>, octal <c>\ooo</c> (1 to 3
/// digits), <c>\xhh</c>, and in str literals only <c>\uXXXX</c> and <c>\UXXXXXXXX</c>. An unrecognised escape keeps
/// its backslash, as Python does. Raw (<c>r</c>) literals, <c>\N{...}</c> and surrogate code points (which
/// Python cannot encode as UTF-8) are rejected.
/// </remarks>
internal static class PythonLiteral
{
    /// <summary>Parses <paramref name="literal"/> and appends its bytes to <paramref name="output"/>.</summary>
    /// <param name="literal">The literal, quotes and prefix included, nothing around it.</param>
    /// <param name="output">Receives the bytes.</param>
    /// <param name="error">A sentence saying what is wrong, when the method returns false.</param>
    /// <returns>True when the literal is valid.</returns>
    public static bool TryParse(ReadOnlySpan<char> literal, ArrayBufferWriter<byte> output, out string? error)
    {
        error = null;
        bool isBytes = false;
        if (literal.Length > 0 && literal[0] is 'b' or 'B')
        {
            isBytes = true;
            literal = literal[1..];
        }
        if (literal.Length < 2 || literal[0] is not ('\'' or '"') || literal[^1] != literal[0])
        {
            error = "it is not a quoted Python str or bytes literal";
            return false;
        }
        char quote = literal[0];
        ReadOnlySpan<char> body = literal[1..^1];
        Span<byte> utf8 = stackalloc byte[4];

        int i = 0;
        while (i < body.Length)
        {
            char c = body[i];
            if (c == quote)
            {
                error = $"it has an unescaped {quote} inside the quotes";
                return false;
            }
            if (c != '\\')
            {
                if (isBytes)
                {
                    if (c > 0x7F)
                    {
                        error = $"its bytes literal contains the non-ASCII character U+{(int)c:X4}";
                        return false;
                    }
                    output.Write([(byte)c]);
                    i++;
                    continue;
                }
                if (Rune.DecodeFromUtf16(body[i..], out Rune rune, out int used) != OperationStatus.Done)
                {
                    error = $"it contains the unpaired surrogate U+{(int)c:X4}";
                    return false;
                }
                output.Write(utf8[..rune.EncodeToUtf8(utf8)]);
                i += used;
                continue;
            }

            if (i + 1 >= body.Length)
            {
                error = "it ends with a lone backslash";
                return false;
            }
            char e = body[i + 1];
            i += 2;
            int simple = e switch
            {
                '\\' => '\\',
                '\'' => '\'',
                '"' => '"',
                'a' => 7,
                'b' => 8,
                'f' => 12,
                'n' => 10,
                'r' => 13,
                't' => 9,
                'v' => 11,
                _ => -1,
            };
            if (simple >= 0)
            {
                output.Write([(byte)simple]);
                continue;
            }
            if (e is >= '0' and <= '7')
            {
                // Up to three octal digits; the first is e.
                int value = e - '0', digits = 1;
                while (digits < 3 && i < body.Length && body[i] is >= '0' and <= '7')
                {
                    value = (value * 8) + (body[i] - '0');
                    i++;
                    digits++;
                }
                if (!AppendCodePoint(value, isBytes, output, utf8, out error))
                {
                    return false;
                }
                continue;
            }
            int hexDigits = e switch
            {
                'x' => 2,
                'u' when !isBytes => 4,
                'U' when !isBytes => 8,
                _ => 0,
            };
            if (hexDigits > 0)
            {
                if (i + hexDigits > body.Length
                    || !int.TryParse(body.Slice(i, hexDigits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int value)
                    || value < 0)
                {
                    error = $"its \\{e} escape is not followed by {hexDigits} hexadecimal digits";
                    return false;
                }
                i += hexDigits;
                if (!AppendCodePoint(value, isBytes, output, utf8, out error))
                {
                    return false;
                }
                continue;
            }
            if (e == 'N' && !isBytes)
            {
                error = "it uses a \\N{...} named escape, which this parser does not support";
                return false;
            }
            // Not an escape: Python keeps the backslash and the character.
            output.Write("\\"u8);
            i -= 1;
        }
        return true;
    }

    // In a bytes literal an escape is one byte (octal values above 255 are an error); in a str literal it is a
    // code point, encoded as UTF-8.
    private static bool AppendCodePoint(int value, bool isBytes, ArrayBufferWriter<byte> output, Span<byte> utf8, out string? error)
    {
        error = null;
        if (isBytes)
        {
            if (value > 0xFF)
            {
                error = $"its bytes literal has the escape value {value}, above 255";
                return false;
            }
            output.Write([(byte)value]);
            return true;
        }
        if (!Rune.IsValid(value))
        {
            error = $"it has the escape U+{value:X4}, which is not a Unicode scalar value (a surrogate or above U+10FFFF) and has no UTF-8 encoding";
            return false;
        }
        output.Write(utf8[..new Rune(value).EncodeToUtf8(utf8)]);
        return true;
    }
}

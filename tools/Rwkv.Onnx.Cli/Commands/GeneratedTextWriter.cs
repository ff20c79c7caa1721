using System.Text;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// Streams generated text to standard output, flushing each piece. On a terminal, control characters are shown as
/// <see cref="TextEscapes"/> escapes (<c>\x00</c>, <c>\x1b</c>, a lone carriage return as <c>\r</c>), so a byte-level
/// model's NUL neither vanishes nor its ESC drives the terminal; line feeds, tabs and CR LF line ends stay as they are.
/// Anywhere else (a file, a pipe) the text is written exactly.
/// </summary>
/// <param name="output">Standard output.</param>
/// <param name="escapeControls">Whether <paramref name="output"/> is a terminal.</param>
internal sealed class GeneratedTextWriter(TextWriter output, bool escapeControls)
{
    // A carriage return that ended the last piece: CR LF if the next piece starts with a line feed, else a lone CR.
    private bool _heldCarriageReturn;

    /// <summary>Writes a piece of the text.</summary>
    public void Write(string piece)
    {
        output.Write(escapeControls ? Escape(piece) : piece);
        output.Flush();
    }

    /// <summary>Ends the text: writes a held carriage return and a line break.</summary>
    public void EndLine()
    {
        if (_heldCarriageReturn)
        {
            output.Write("\\r");
            _heldCarriageReturn = false;
        }
        output.WriteLine();
        output.Flush();
    }

    private string Escape(string piece)
    {
        bool held = _heldCarriageReturn;
        _heldCarriageReturn = false;
        if (!held && !NeedsEscaping(piece))
        {
            return piece;
        }
        var shown = new StringBuilder(piece.Length + 8);
        if (held)
        {
            shown.Append(piece.StartsWith('\n') ? "\r" : "\\r");
        }
        for (int i = 0; i < piece.Length; i++)
        {
            char c = piece[i];
            if (c is '\n' or '\t' || (c == '\r' && i + 1 < piece.Length && piece[i + 1] == '\n'))
            {
                shown.Append(c);
            }
            else if (c == '\r' && i + 1 == piece.Length)
            {
                _heldCarriageReturn = true;
            }
            else
            {
                TextEscapes.AppendEscaped(shown, c);
            }
        }
        return shown.ToString();
    }

    private static bool NeedsEscaping(string piece)
    {
        foreach (char c in piece)
        {
            if (char.IsControl(c) && c is not ('\n' or '\t'))
            {
                return true;
            }
        }
        return false;
    }
}

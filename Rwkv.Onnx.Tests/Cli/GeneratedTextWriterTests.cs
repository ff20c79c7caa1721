using Rwkv.Onnx.Cli.Commands;

namespace Rwkv.Onnx.Tests.Cli;

public sealed class GeneratedTextWriterTests
{
    // Pieces as a byte-level model might stream them: NUL, an ANSI colour sequence, CR LF split across pieces, a lone
    // CR, a tab, a C1 control (U+0085) and a CR at the very end.
    private static readonly string[] s_pieces = ["a\0b", "\u001b[31mred", "x\r", "\ny\r", "z\t\u0085", "end\r"];

    private static string WriteAll(bool terminal)
    {
        var output = new StringWriter { NewLine = "\n" };
        var writer = new GeneratedTextWriter(output, terminal);
        foreach (string piece in s_pieces)
        {
            writer.Write(piece);
        }
        writer.EndLine();
        return output.ToString();
    }

    [Test]
    public void Write_NotATerminal_WritesTheTextExactly()
    {
        Assert.That(WriteAll(terminal: false), Is.EqualTo(string.Concat(s_pieces) + "\n"));
    }

    [Test]
    public void Write_Terminal_EscapesControlsButKeepsLineFeedTabAndCrLf()
    {
        Assert.That(WriteAll(terminal: true), Is.EqualTo("a\\x00b\\x1b[31mredx\r\ny\\rz\t\\x85end\\r\n"));
    }
}

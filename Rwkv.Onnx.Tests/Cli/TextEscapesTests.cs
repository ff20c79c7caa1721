using Rwkv.Onnx.Cli;
using Rwkv.Onnx.Cli.Commands;

namespace Rwkv.Onnx.Tests.Cli;

public sealed class TextEscapesTests
{
    [TestCase(@"a\nb", "a\nb")]
    [TestCase(@"\t|\r\n", "\t|\r\n")]
    [TestCase(@"NUL \x00 ESC \x1B DEL \x7f", "NUL \0 ESC \u001b DEL \u007f")]
    [TestCase(@"\xff\xE9", "\u00ff\u00e9")]
    [TestCase(@"\\n is not a line feed", @"\n is not a line feed")]
    [TestCase(@"C:\\temp\\", @"C:\temp\")]
    [TestCase("no escapes, é ✓", "no escapes, é ✓")]
    public void Unescape_KnownEscapes_BecomeTheirCharacters(string value, string expected)
    {
        Assert.That(TextEscapes.Unescape(value, "--prompt"), Is.EqualTo(expected));
    }

    [TestCase(@"a\qb", @"--stop: '\q' at character 2 is not an escape;")]
    [TestCase(@"C:\Users", @"--stop: '\U' at character 3 is not an escape;")]
    [TestCase(@"ends\", "--stop: the text ends with a lone backslash; write \\\\ for a backslash.")]
    [TestCase(@"\x4", @"--stop: '\x' at character 1 needs two hex digits")]
    [TestCase(@"ab\xg0", @"--stop: '\x' at character 3 needs two hex digits")]
    [TestCase(@"\x+1", @"--stop: '\x' at character 1 needs two hex digits")]
    public void Unescape_BadEscape_IsAUsageErrorNamingTheOptionAndPosition(string value, string message)
    {
        Assert.That(() => TextEscapes.Unescape(value, "--stop"), Throws.TypeOf<UsageException>().With.Message.StartsWith(message));
    }

    [Test]
    public void Unescape_BackslashBeforeAControlCharacter_ShowsItEscapedInTheMessage()
    {
        Assert.That(() => TextEscapes.Unescape("a\\\u001b", "--prompt"),
            Throws.TypeOf<UsageException>().With.Message.StartsWith(@"--prompt: '\\x1b' at character 2"));
    }

    [Test]
    public void Escape_ControlCharacters_AreWrittenAsEscapesThatUnescapeBack()
    {
        string controls = new([.. Enumerable.Range(0, 0x20).Concat(Enumerable.Range(0x7f, 0x21)).Select(c => (char)c)]);
        string escaped = TextEscapes.Escape("x" + controls + "é");
        Assert.Multiple(() =>
        {
            Assert.That(TextEscapes.Escape("\0\u001b\u007f\u0085\r\n\t"), Is.EqualTo(@"\x00\x1b\x7f\x85\r\n\t"));
            Assert.That(escaped.Any(char.IsControl), Is.False);
            Assert.That(TextEscapes.Unescape(escaped, "--stop"), Is.EqualTo("x" + controls + "é"));
        });
    }
}

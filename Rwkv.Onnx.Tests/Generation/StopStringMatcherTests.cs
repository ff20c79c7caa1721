using Rwkv.Onnx.Generation;

namespace Rwkv.Onnx.Tests.Generation;

public class StopStringMatcherTests
{
    [Test]
    public void Push_StopStringSplitAcrossPieces_HoldsThePrefixAndStops()
    {
        var matcher = new StopStringMatcher(["\n\nUser:"]);
        Assert.Multiple(() =>
        {
            Assert.That(matcher.Push("Hello"), Is.EqualTo("Hello"));
            Assert.That(matcher.Push("!\n"), Is.EqualTo("!"));            // "\n" may start the stop string
            Assert.That(matcher.Push("\nUs"), Is.Empty);                   // "\n\nUs" still may
            Assert.That(matcher.Stopped, Is.False);
            Assert.That(matcher.Push("er: hi"), Is.Empty);                 // complete: nothing more is released
            Assert.That(matcher.Stopped, Is.True);
            Assert.That(matcher.Push("more"), Is.Empty);
            Assert.That(matcher.Flush(), Is.Empty);
        });
    }

    [Test]
    public void Push_HeldPrefixThatDoesNotContinue_IsReleased()
    {
        var matcher = new StopStringMatcher(["\n\n"]);
        Assert.Multiple(() =>
        {
            Assert.That(matcher.Push("a\n"), Is.EqualTo("a"));
            Assert.That(matcher.Push("b"), Is.EqualTo("\nb"));
            Assert.That(matcher.Push("c\n"), Is.EqualTo("c"));
            Assert.That(matcher.Flush(), Is.EqualTo("\n"));
        });
    }

    [Test]
    public void Push_SeveralStopStrings_TheEarliestWins()
    {
        var matcher = new StopStringMatcher(["world", "lo"]);
        Assert.That((matcher.Push("hello world"), matcher.Stopped), Is.EqualTo(("hel", true)));
    }

    [Test]
    public void Push_NoStopStrings_ReleasesEverything()
    {
        var matcher = new StopStringMatcher([]);
        Assert.That(matcher.Push("a\n\n"), Is.EqualTo("a\n\n"));
    }
}

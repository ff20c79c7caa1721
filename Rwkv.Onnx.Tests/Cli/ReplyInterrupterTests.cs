using Rwkv.Onnx.Cli.Commands;

namespace Rwkv.Onnx.Tests.Cli;

public sealed class ReplyInterrupterTests
{
    [Test]
    public void Interrupt_FirstDuringAReply_StopsIt_SecondIsLeftToEndTheProgram()
    {
        using var interrupter = new ReplyInterrupter();
        CancellationToken reply = interrupter.BeginReply();
        bool first = interrupter.Interrupt();
        bool second = interrupter.Interrupt();
        Assert.Multiple(() =>
        {
            Assert.That(first, Is.True);
            Assert.That(reply.IsCancellationRequested, Is.True);
            Assert.That(second, Is.False);
        });
    }

    [Test]
    public void Interrupt_AtThePrompt_IsLeftToEndTheProgram()
    {
        using var interrupter = new ReplyInterrupter();
        bool beforeAnyReply = interrupter.Interrupt();
        CancellationToken reply = interrupter.BeginReply();
        interrupter.EndReply();
        bool afterTheReply = interrupter.Interrupt();
        Assert.Multiple(() =>
        {
            Assert.That(beforeAnyReply, Is.False);
            Assert.That(afterTheReply, Is.False);
            Assert.That(reply.IsCancellationRequested, Is.False, "a finished reply is not cancelled afterwards");
        });
    }

    [Test]
    public void BeginReply_AfterAStoppedReply_GivesAFreshToken()
    {
        using var interrupter = new ReplyInterrupter();
        interrupter.BeginReply();
        interrupter.Interrupt();
        interrupter.EndReply();
        CancellationToken next = interrupter.BeginReply();
        Assert.Multiple(() =>
        {
            Assert.That(next.IsCancellationRequested, Is.False);
            Assert.That(interrupter.Interrupt(), Is.True);
        });
    }
}

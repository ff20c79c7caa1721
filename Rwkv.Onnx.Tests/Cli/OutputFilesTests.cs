using System.Text;
using Rwkv.Onnx.Cli;
using Rwkv.Onnx.Cli.Output;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>
/// <see cref="OutputFiles"/> writes a command's files all or none: a failure while writing any of them (a full disk, a
/// chart that cannot be drawn) leaves no output and no temporary file, and an existing output keeps its old content.
/// </summary>
[TestFixture]
public sealed class OutputFilesTests
{
    private readonly ScratchRoot _root = new("rwkv-output-files-tests-");
    private string _dir = "";

    [OneTimeSetUp]
    public void CreateRoot() => _root.Create();

    [OneTimeTearDown]
    public void DeleteRoot() => _root.Delete();

    [SetUp]
    public void CreateDirectory() => _dir = _root.CreateDirectory();

    private static byte[] Text(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>A new file that fails like a full disk (ENOSPC) once <paramref name="capacity"/> bytes are written.</summary>
    private sealed class FullDiskStream(string path, long capacity) : Stream
    {
        private readonly FileStream _file = new(path, FileMode.CreateNew, FileAccess.Write);

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _file.Length;

        public override long Position { get => _file.Position; set => throw new NotSupportedException(); }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            long room = capacity - _file.Length;
            if (buffer.Length > room)
            {
                _file.Write(buffer[..(int)room]);
                throw new IOException("No space left on device");
            }
            _file.Write(buffer);
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Flush() => _file.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _file.Dispose();
            }
            base.Dispose(disposing);
        }
    }

    [Test]
    public void Write_DiskFullPartWayThroughTheSecondFile_LeavesNothingAndKeepsTheOldFile()
    {
        string json = Path.Combine(_dir, "bench.json"), markdown = Path.Combine(_dir, "bench.md");
        File.WriteAllText(markdown, "old table");
        OutputFiles outputs = OutputFiles.Check([("--json", json), ("--markdown", markdown)],
            create: path => Path.GetFileName(path).StartsWith(".bench.md.", StringComparison.Ordinal) ? new FullDiskStream(path, 100) : new FileStream(path, FileMode.CreateNew));

        var e = Assert.Throws<IOException>(() => outputs.Write(("--json", s => s.Write(Text("{\"schema\": 1}"))), ("--markdown", s => s.Write(new byte[4096]))));

        Assert.That(e!.Message, Is.EqualTo("No space left on device"));
        Assert.That(Directory.GetFiles(_dir).Select(Path.GetFileName), Is.EqualTo(new[] { "bench.md" }), "no JSON, no temporary file");
        Assert.That(File.ReadAllText(markdown), Is.EqualTo("old table"));
    }

    [Test]
    public void Write_ChartCannotBeDrawn_LeavesNoJson()
    {
        string json = Path.Combine(_dir, "bench.json"), chart = Path.Combine(_dir, "bench.png");
        OutputFiles outputs = OutputFiles.Check([("--json", json), ("--markdown", null), ("--chart", chart)]);

        Assert.Throws<InvalidOperationException>(() => outputs.Write(
            ("--json", s => s.Write(Text("{}"))), ("--markdown", _ => throw new AssertionException("not requested, not produced")),
            ("--chart", _ => throw new InvalidOperationException("the chart failed"))));

        Assert.That(Directory.GetFiles(_dir), Is.Empty);
    }

    [Test]
    public void Write_AllSucceed_ReplacesTheTargetsAndLeavesNoTemporaries()
    {
        string json = Path.Combine(_dir, "bench.json"), markdown = Path.Combine(_dir, "bench.md");
        File.WriteAllText(json, "old");
        OutputFiles outputs = OutputFiles.Check([("--json", json), ("--markdown", markdown), ("--chart", null)]);

        outputs.Write(("--json", s => s.Write(Text("new json"))), ("--markdown", s => s.Write(Text("new table"))), ("--chart", _ => throw new AssertionException("not requested")));

        Assert.That(File.ReadAllText(json), Is.EqualTo("new json"));
        Assert.That(File.ReadAllText(markdown), Is.EqualTo("new table"));
        Assert.That(Directory.GetFiles(_dir).Select(Path.GetFileName), Is.EquivalentTo(new[] { "bench.json", "bench.md" }));
    }

    [Test]
    public void Check_ProbesTheDirectory_AndLeavesNoProbeFile()
    {
        OutputFiles.Check([("--json", Path.Combine(_dir, "bench.json"))]);

        Assert.That(Directory.GetFileSystemEntries(_dir), Is.Empty);
    }

    [Test]
    public void Check_EmptyPath_IsUsageError()
    {
        var e = Assert.Throws<UsageException>(() => OutputFiles.Check([("--markdown", "")]));

        Assert.That(e!.Message, Is.EqualTo("--markdown: the file name is empty."));
    }
}

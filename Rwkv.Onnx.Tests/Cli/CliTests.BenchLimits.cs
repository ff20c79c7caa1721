using Rwkv.Onnx.Cli;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>
/// bench refuses, before its first measurement and with one line naming the option, what cannot run: sizes beyond one
/// .NET array (issue 16 item 6) and configurations beyond the available memory (item 4), which the tests simulate.
/// </summary>
public sealed partial class CliTests
{
    private const long MiB = 1L << 20;

    // The tiny model: 12 layers of att_shift [64], wkv [1, 64, 64] and ffn_shift [64], two float32 sets per sequence.
    private const long TinyStateBytesPerSequence = 2L * 12 * (64 + 64 * 64 + 64) * sizeof(float);

    [Test]
    public void Bench_BatchBeyondAvailableMemory_FailsBeforeMeasuringWithTheEstimateAndTheLimit()
    {
        string json = Path.Combine(_work, "never.json");
        using IDisposable _ = AvailableMemory.Simulate(1L << 30);

        CliRun run = Run(BenchArgs("--batch", "1,100000", "--json", json));

        AssertOneErrorLineAndNoMeasurement(run, ExitCodes.Failure);
        // The state alone is 100000 × 405,504 bytes = 37.8 GiB; the message gives the total, its parts and the limit.
        Assert.That(run.Stderr, Does.StartWith("error: --batch 100000 with --prefill 16 on cpu needs an estimated "));
        Assert.That(run.Stderr, Does.Contain($"state {AvailableMemory.FormatBytes(100000 * TinyStateBytesPerSequence)}").And.Contain("state 37.8 GiB"));
        Assert.That(run.Stderr, Does.Contain("1.0 GiB is available (simulated). Lower --batch or --prefill."));
        Assert.That(File.Exists(json), Is.False);
    }

    [Test]
    public void Bench_BandwidthBufferBeyondAvailableMemory_FailsBeforeMeasuring()
    {
        using IDisposable _ = AvailableMemory.Simulate(100 * MiB);

        CliRun run = Run(["bench", _model, "--prefill", "16", "--decode", "8", "--repeat", "1", "--bandwidth-buffer-mib", "512"]);

        AssertOneErrorLineAndNoMeasurement(run, ExitCodes.Failure);
        Assert.That(run.Stderr, Is.EqualTo($"error: --bandwidth-buffer-mib 512 needs 512.0 MiB of memory; 100.0 MiB is available (simulated).{Environment.NewLine}"));
    }

    [Test]
    public void Bench_BandwidthBufferBeyondOneArray_IsUsageErrorNamingTheLimit()
    {
        // 100000 MiB of floats is 26,214,400,000 elements; one .NET array holds at most 2,147,483,591 (8191 MiB of floats).
        CliRun run = Run("bench", _model, "--prefill", "16", "--decode", "8", "--repeat", "1", "--bandwidth-buffer-mib", "100000");

        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.Stderr);
        Assert.That(run.Stderr, Does.Contain("--bandwidth-buffer-mib: 100000 is out of range; expected a whole number from 1 to 8191"));
        Assert.That(run.Stderr, Does.Not.Contain("   at ").And.Not.Contain("Overflow"));
    }

    [TestCase("--batch", "5000000", "--prefill", "512", "--batch 5000000 with --prefill 512 makes a prompt of 2560000000 tokens", "--batch can be at most 4194303")]
    [TestCase("--repeat", "3", "--decode", "1000000000", "--repeat 3 with --decode 1000000000 times 3000000000 decode steps", "lower --repeat or --decode")]
    [TestCase("--batch", "10000000", "--prefill", "1", "--batch 10000000: the logits of 10000000 sequences × vocabulary 256 are 2560000000 floats", "--batch can be at most 8388607")]
    [TestCase("--batch", "600000", "--prefill", "1", "--batch 600000: state tensor 'past_wkv.0' of 600000 sequences × 4096 floats", "--batch can be at most 524287")]
    public void Bench_SizeBeyondOneArray_IsUsageErrorNamingTheOptionsAndTheLimit(string option1, string value1, string option2, string value2, string what, string limit)
    {
        using IDisposable _ = AvailableMemory.Simulate(long.MaxValue); // a machine where only the array limit stops it

        CliRun run = Run(["bench", _model, "--bandwidth-buffer-mib", "64", option1, value1, option2, value2]);

        AssertOneErrorLineAndNoMeasurement(run, ExitCodes.Usage);
        Assert.That(run.Stderr, Does.Contain(what).And.Contain(limit));
    }
}

using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Rwkv.Onnx.Tests.Reliability;

/// <summary>One fuzzed input: what was done to the seed, and the bytes.</summary>
/// <param name="Description">The mutation, e.g. <c>truncate at 24</c>, for failure messages.</param>
/// <param name="Bytes">The input.</param>
internal sealed record FuzzCase(string Description, byte[] Bytes);

/// <summary>What a fuzz run saw: cases, how they ended, and the worst time and allocation of one case.</summary>
internal sealed record FuzzReport(string Target, int Cases, int Accepted, int Rejected, TimeSpan Slowest, long LargestAllocation, int LargestAllocationInput, TimeSpan Total)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Target}: {Cases} cases ({Accepted} accepted, {Rejected} rejected with a typed exception) in {Total.TotalSeconds:F2} s; slowest case {Slowest.TotalMilliseconds:F0} ms; largest allocation {LargestAllocation} bytes for a {LargestAllocationInput}-byte input");
}

/// <summary>
/// A small deterministic mutation fuzzer for the file readers. <see cref="Mutate"/> derives inputs from a seed file
/// (truncations, bit flips, byte runs, absurd integers spliced at field positions, chunk moves, random bytes);
/// <see cref="Run"/> feeds each to a reader on a worker thread and fails on any outcome other than success or one of
/// the allowed exception types: another exception, a case slower than <see cref="CaseTimeLimit"/> (a hang), or a case
/// that allocates more than <see cref="AllocationFactor"/> times its input plus <see cref="AllocationSlack"/>
/// (an allocation from a declared size).
/// </summary>
internal static class FuzzHarness
{
    /// <summary>Longest time one case may take.</summary>
    public static readonly TimeSpan CaseTimeLimit = TimeSpan.FromSeconds(2);

    /// <summary>A case may allocate this many times its input size (plus the slack): decoding fp16 or 4-bit data to float32 and a transposed copy.</summary>
    public const long AllocationFactor = 20;

    /// <summary>Fixed allocation allowance per case: parser tables, buffers, messages.</summary>
    public const long AllocationSlack = 8L << 20;

    /// <summary>The environment variable that scales the case counts for a long run (a multiplier, e.g. <c>50</c>).</summary>
    public const string ScaleVariable = "RWKV_FUZZ_SCALE";

    private static readonly byte[] s_fills = [0x00, 0xFF, 0x7F, 0x80];

    private static readonly long[] s_absurd =
    [
        0, 1, -1, 2, 31, 32, 33, 255, 256, 4095, 65535, 65536, int.MaxValue, int.MinValue, int.MaxValue - 1, (long)int.MaxValue + 1,
        uint.MaxValue, (long)uint.MaxValue + 1, 1L << 40, 1L << 62, long.MaxValue, long.MinValue, -2, 0x7F7F7F7F, 0x01000000,
    ];

    /// <summary>The case count for a target: <paramref name="ciCount"/>, times <see cref="ScaleVariable"/> when set.</summary>
    public static int Count(int ciCount)
    {
        string? scale = Environment.GetEnvironmentVariable(ScaleVariable);
        return scale is not null && int.TryParse(scale, NumberStyles.None, CultureInfo.InvariantCulture, out int factor) && factor > 0
            ? checked(ciCount * factor)
            : ciCount;
    }

    /// <summary>
    /// <paramref name="count"/> mutations of <paramref name="seed"/>, deterministic for <paramref name="rngSeed"/>. Truncations
    /// come first: at every offset of <paramref name="boundaries"/> (and one byte either side), then random ones.
    /// Integer splices land on a boundary half of the time, so header fields are hit often.
    /// </summary>
    public static IEnumerable<FuzzCase> Mutate(byte[] seed, int count, int rngSeed, IReadOnlyList<int>? boundaries = null)
    {
        var rng = new Random(rngSeed);
        boundaries ??= [];
        var truncations = new SortedSet<int> { 0, 1, 4, 8, seed.Length - 1 };
        foreach (int b in boundaries)
        {
            truncations.UnionWith([b - 1, b, b + 1]);
        }
        truncations.RemoveWhere(t => t < 0 || t >= seed.Length);
        foreach (int t in truncations)
        {
            yield return new FuzzCase($"truncate at {t}", seed[..t]);
        }
        for (int i = 0; i < count; i++)
        {
            yield return MutateOnce(seed, rng, boundaries);
        }
    }

    private static FuzzCase MutateOnce(byte[] seed, Random rng, IReadOnlyList<int> boundaries)
    {
        byte[] bytes = (byte[])seed.Clone();
        int Position() => boundaries.Count > 0 && rng.Next(2) == 0
            ? Math.Clamp(boundaries[rng.Next(boundaries.Count)] + rng.Next(-4, 16), 0, Math.Max(bytes.Length - 1, 0))
            : rng.Next(Math.Max(bytes.Length, 1));
        switch (rng.Next(9))
        {
            case 0:
                {
                    int at = rng.Next(bytes.Length + 1);
                    return new FuzzCase($"truncate at {at}", bytes[..at]);
                }
            case 1:
                {
                    int flips = 1 + rng.Next(8);
                    var where = new List<int>();
                    for (int k = 0; k < flips && bytes.Length > 0; k++)
                    {
                        int at = Position();
                        bytes[at] ^= (byte)(1 << rng.Next(8));
                        where.Add(at);
                    }
                    return new FuzzCase($"flip bits at {string.Join(",", where)}", bytes);
                }
            case 2:
                {
                    byte value = s_fills[rng.Next(s_fills.Length)];
                    int at = Position(), run = 1 + rng.Next(8);
                    bytes.AsSpan(at, Math.Min(run, bytes.Length - at)).Fill(value);
                    return new FuzzCase($"fill {run} bytes at {at} with 0x{value:X2}", bytes);
                }
            case 3:
            case 4:
                {
                    long value = s_absurd[rng.Next(s_absurd.Length)];
                    if (rng.Next(4) == 0)
                    {
                        value = rng.Next(2) == 0 ? bytes.Length + rng.Next(-8, 64) : -value;
                    }
                    int width = rng.Next(3) == 0 ? 8 : 4;
                    int at = Position();
                    if (at + width > bytes.Length)
                    {
                        return new FuzzCase($"truncate at {at}", bytes[..at]);
                    }
                    if (width == 8)
                    {
                        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(at), value);
                    }
                    else
                    {
                        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at), unchecked((int)value));
                    }
                    return new FuzzCase($"write int{width * 8} {value} at {at}", bytes);
                }
            case 5:
                {
                    int at = Position(), length = rng.Next(1, 64);
                    length = Math.Min(length, bytes.Length - at);
                    return new FuzzCase($"delete {length} bytes at {at}", [.. bytes[..at], .. bytes[(at + length)..]]);
                }
            case 6:
                {
                    int from = rng.Next(Math.Max(bytes.Length, 1)), at = Position();
                    int length = Math.Min(rng.Next(1, 256), bytes.Length - from);
                    return new FuzzCase($"insert {length} bytes from {from} at {at}", [.. bytes[..at], .. bytes.AsSpan(from, length), .. bytes[at..]]);
                }
            case 7:
                {
                    int at = Position(), length = Math.Min(rng.Next(1, 32), bytes.Length - at);
                    rng.NextBytes(bytes.AsSpan(at, length));
                    return new FuzzCase($"randomize {length} bytes at {at}", bytes);
                }
            default:
                {
                    // Random bytes behind the seed's first 4 to 24 bytes (its magic and maybe a header), so detection passes.
                    int keep = Math.Min(bytes.Length, 4 + rng.Next(21)), length = rng.Next(0, 4096);
                    byte[] noise = new byte[length];
                    rng.NextBytes(noise);
                    return new FuzzCase($"keep {keep} bytes, then {length} random bytes", [.. bytes[..keep], .. noise]);
                }
        }
    }

    /// <summary><paramref name="count"/> inputs of random bytes (0 to 4 KB), deterministic for <paramref name="rngSeed"/>.</summary>
    public static IEnumerable<FuzzCase> RandomInputs(int count, int rngSeed)
    {
        var rng = new Random(rngSeed);
        for (int i = 0; i < count; i++)
        {
            byte[] bytes = new byte[rng.Next(0, 4096)];
            rng.NextBytes(bytes);
            yield return new FuzzCase($"{bytes.Length} random bytes (#{i})", bytes);
        }
    }

    /// <summary>Positions where the seed holds <paramref name="marker"/> (e.g. a zip signature), as boundaries for <see cref="Mutate"/>.</summary>
    public static IEnumerable<int> Occurrences(byte[] seed, ReadOnlySpan<byte> marker)
    {
        var result = new List<int>();
        for (int at = seed.AsSpan().IndexOf(marker); at >= 0;)
        {
            result.Add(at);
            int next = seed.AsSpan(at + 1).IndexOf(marker);
            at = next < 0 ? -1 : at + 1 + next;
        }
        return result;
    }

    /// <summary>
    /// Runs every case through <paramref name="read"/> on a worker thread and asserts that each one either returns or
    /// throws an exception of exactly one of <paramref name="allowed"/>, within <see cref="CaseTimeLimit"/> and the
    /// allocation bound. The first failures are listed (up to 8) with its mutation and exception.
    /// </summary>
    public static FuzzReport Run(string target, IEnumerable<FuzzCase> cases, Action<FuzzCase> read, params Type[] allowed)
    {
        var failures = new List<string>();
        int total = 0, accepted = 0, rejected = 0;
        TimeSpan slowest = TimeSpan.Zero;
        long largestAllocation = 0;
        int largestAllocationInput = 0;
        long caseStarted = 0;
        string current = "";
        var clock = Stopwatch.StartNew();
        Exception? harnessError = null;

        var worker = new Thread(() =>
        {
            try
            {
                foreach (FuzzCase c in cases)
                {
                    Volatile.Write(ref current, c.Description);
                    long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
                    long start = Stopwatch.GetTimestamp();
                    Interlocked.Exchange(ref caseStarted, start);
                    Exception? error = null;
                    try
                    {
                        read(c);
                    }
                    catch (Exception e)
                    {
                        error = e;
                    }
                    TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
                    long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
                    Interlocked.Exchange(ref caseStarted, 0);
                    total++;
                    slowest = elapsed > slowest ? elapsed : slowest;
                    if (allocated > largestAllocation)
                    {
                        (largestAllocation, largestAllocationInput) = (allocated, c.Bytes.Length);
                    }
                    if (error is null)
                    {
                        accepted++;
                    }
                    else if (allowed.Contains(error.GetType()))
                    {
                        rejected++;
                    }
                    else
                    {
                        string where = string.Join("\n", (error.StackTrace ?? "").Split('\n').Take(4));
                        failures.Add($"[{c.Description}] threw {error.GetType().Name}: {error.Message}\n{where}");
                    }
                    if (elapsed > CaseTimeLimit)
                    {
                        failures.Add($"[{c.Description}] took {elapsed.TotalMilliseconds:F0} ms, more than {CaseTimeLimit.TotalMilliseconds:F0} ms.");
                    }
                    long bound = (AllocationFactor * c.Bytes.Length) + AllocationSlack;
                    if (allocated > bound)
                    {
                        failures.Add($"[{c.Description}] allocated {allocated} bytes for a {c.Bytes.Length}-byte input; the bound is {bound}.");
                    }
                }
            }
            catch (Exception e)
            {
                harnessError = e;
            }
        }, maxStackSize: 1 << 20)
        {
            IsBackground = true, // a hung case must not keep the test process alive
            Name = $"fuzz {target}",
        };
        worker.Start();
        while (!worker.Join(100))
        {
            long started = Interlocked.Read(ref caseStarted);
            if (started != 0 && Stopwatch.GetElapsedTime(started) > CaseTimeLimit + CaseTimeLimit)
            {
                Assert.Fail($"{target}: case [{Volatile.Read(ref current)}] still runs after {(CaseTimeLimit + CaseTimeLimit).TotalSeconds} s; it hangs.");
            }
        }
        if (harnessError is not null)
        {
            throw new InvalidOperationException($"{target}: the fuzz harness itself failed.", harnessError);
        }
        var report = new FuzzReport(target, total, accepted, rejected, slowest, largestAllocation, largestAllocationInput, clock.Elapsed);
        TestContext.Out.WriteLine(report);
        var message = new StringBuilder($"{target}: {failures.Count} of {total} cases failed:\n");
        foreach (string f in failures.Take(8))
        {
            message.AppendLine(f);
        }
        if (failures.Count > 0)
        {
            Assert.Fail(message.ToString());
        }
        return report;
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Rwkv.Onnx.Tests.Reliability;

/// <summary>
/// One <see cref="RwkvModel"/> serving many threads, each with its own runner and state: results bitwise equal to a
/// serial run, memory flat, and disposal in any order (also racing with runs) safe. Set <c>RWKV_SOAK_THREADS</c> and
/// <c>RWKV_SOAK_STEPS</c> (runs per thread) for a longer soak than the default 8 × 500.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class ConcurrencyTests
{
    private const int Vocab = 256;

    private static int Threads => EnvironmentInt("RWKV_SOAK_THREADS", 8);

    private static int Steps => EnvironmentInt("RWKV_SOAK_STEPS", 500);

    [Test]
    public void OneModel_ManyThreads_MatchSerialRunsBitwise_AndMemoryStaysFlat()
    {
        int threads = Threads, steps = Steps;
        using RwkvModel model = RwkvModel.Load(RuntimeReliabilityModels.Tiny7);

        // Reference: every thread's stream run alone, one after another, on a single runner.
        var serial = new ulong[threads];
        var clock = Stopwatch.StartNew();
        using (RwkvRunner runner = model.CreateRunner())
        {
            for (int t = 0; t < threads; t++)
            {
                using RwkvState state = model.CreateState();
                serial[t] = RunStream(model, runner, state, t, steps, churn: false);
            }
        }
        TimeSpan serialTime = clock.Elapsed;

        RunConcurrently(model, threads, Math.Max(steps / 10, 50)); // warm-up: pools, arenas, JIT
        (long managedStart, long rssStart) = Measure();
        clock.Restart();
        ulong[] concurrent = RunConcurrently(model, threads, steps);
        TimeSpan concurrentTime = clock.Elapsed;
        (long managedEnd, long rssEnd) = Measure();

        double managedDriftMiB = (managedEnd - managedStart) / 1048576.0, rssDriftMiB = (rssEnd - rssStart) / 1048576.0;
        TestContext.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"soak: {threads} threads x {steps} runs = {threads * steps} runs; serial {serialTime.TotalSeconds:F2} s, concurrent {concurrentTime.TotalSeconds:F2} s; " +
            $"managed {managedStart / 1048576.0:F1} -> {managedEnd / 1048576.0:F1} MiB (drift {managedDriftMiB:+0.00;-0.00} MiB), " +
            $"RSS {rssStart / 1048576.0:F1} -> {rssEnd / 1048576.0:F1} MiB (drift {rssDriftMiB:+0.0;-0.0} MiB); load average {LoadAverage()}"));

        Assert.That(concurrent, Is.EqualTo(serial), "per-thread logits hashes, concurrent vs serial");
        // Bounds from measurement (see the README's reliability section): a leak of one state, runner or logits
        // buffer per run would exceed them many times over in thousands of runs.
        Assert.That(managedDriftMiB, Is.LessThan(2), "managed heap growth after a full GC");
        Assert.That(rssDriftMiB, Is.LessThan(16), "resident set growth");
    }

    [Test]
    public void Dispose_InRandomOrders_IsSafe_AndLaterUseThrowsObjectDisposed()
    {
        for (int seed = 0; seed < 4; seed++)
        {
            var random = new Random(seed);
            RwkvModel model = RwkvModel.Load(RuntimeReliabilityModels.Tiny7);
            RwkvRunner[] runners = [model.CreateRunner(), model.CreateRunner()];
            RwkvState[] states = [model.CreateState(), model.CreateState()];
            bool modelAlive = true;
            bool[] runnerAlive = [true, true], stateAlive = [true, true];
            IDisposable[] all = [model, runners[0], runners[1], states[0], states[1]];
            int[] order = [.. Enumerable.Range(0, all.Length).OrderBy(_ => random.Next())];

            foreach (int victim in order)
            {
                all[victim].Dispose();
                modelAlive &= victim != 0;
                for (int i = 0; i < 2; i++)
                {
                    runnerAlive[i] &= victim != 1 + i;
                    stateAlive[i] &= victim != 3 + i;
                }
                for (int r = 0; r < 2; r++)
                {
                    for (int s = 0; s < 2; s++)
                    {
                        RwkvRunner runner = runners[r];
                        RwkvState state = states[s];
                        Action forward = () => runner.Forward([1, 2], state, new float[Vocab], r == 0 ? RwkvForwardMode.Step : RwkvForwardMode.Prefill);
                        string what = $"seed {seed}, order [{string.Join(", ", order)}], after disposing {victim}: runner {r} with state {s}";
                        Assert.That(forward, Usable(modelAlive && runnerAlive[r] && stateAlive[s]), what);
                    }
                    RwkvState target = states[r];
                    Assert.That(() => target.Reset(), Usable(modelAlive && stateAlive[r]));
                }
                Assert.That(() => model.CreateState().Dispose(), Usable(modelAlive));
            }
            foreach (IDisposable disposable in all.Reverse())
            {
                Assert.That(disposable.Dispose, Throws.Nothing, "a second Dispose is a no-op");
            }
        }
    }

    [TestCase(0)] // the model
    [TestCase(1)] // each thread's runner
    [TestCase(2)] // each thread's state
    public void Dispose_WhileOtherThreadsRun_WaitsForTheRun_AndLaterRunsThrowObjectDisposed(int what)
    {
        const int Workers = 4;
        var model = RwkvModel.Load(RuntimeReliabilityModels.Tiny7);
        RwkvRunner[] runners = [.. Enumerable.Range(0, Workers).Select(_ => model.CreateRunner())];
        RwkvState[] states = [.. Enumerable.Range(0, Workers).Select(_ => model.CreateState())];
        var runs = new int[Workers];
        var errors = new Exception?[Workers];
        Thread[] workers = [.. Enumerable.Range(0, Workers).Select(t => new Thread(() =>
        {
            var logits = new float[Vocab];
            try
            {
                for (int i = 0; ; i++)
                {
                    if (i % 7 == 0)
                    {
                        runners[t].Forward([1, 2, 3, 4, 5], states[t], logits, RwkvForwardMode.Prefill);
                    }
                    else
                    {
                        runners[t].Forward([i % Vocab], states[t], logits);
                    }
                    Volatile.Write(ref runs[t], i + 1);
                }
            }
            catch (Exception e)
            {
                errors[t] = e;
            }
        }))];
        foreach (Thread worker in workers)
        {
            worker.Start();
        }
        SpinWait.SpinUntil(() => Enumerable.Range(0, Workers).All(t => Volatile.Read(ref runs[t]) >= 20), TimeSpan.FromSeconds(30));

        IEnumerable<IDisposable> victims = what switch { 0 => [model], 1 => runners, _ => states };
        foreach (IDisposable victim in victims)
        {
            victim.Dispose();
        }
        foreach (Thread worker in workers)
        {
            Assert.That(worker.Join(TimeSpan.FromSeconds(30)), Is.True, "a worker did not stop after the disposal");
        }

        Assert.That(runs, Has.All.GreaterThanOrEqualTo(20));
        Assert.That(errors, Has.All.InstanceOf<ObjectDisposedException>());
        foreach (IDisposable disposable in runners.Concat<IDisposable>(states).Append(model))
        {
            disposable.Dispose();
        }
    }

    [Test]
    public void OneRunnerOnTwoThreads_SecondCallThrowsInvalidOperation_AndResultsStayExact()
    {
        using RwkvModel model = RwkvModel.Load(RuntimeReliabilityModels.Tiny7);
        const int Runs = 300;
        var expected = new ulong[2];
        using (RwkvRunner reference = model.CreateRunner())
        {
            for (int t = 0; t < 2; t++)
            {
                using RwkvState state = model.CreateState();
                expected[t] = RunStream(model, reference, state, 2 * t, Runs, churn: false); // even streams: steps only
            }
        }

        // Both threads share one runner (a misuse), each with its own state, retrying a refused call.
        using RwkvRunner shared = model.CreateRunner();
        var refused = new int[2];
        var actual = new ulong[2];
        Parallel.For(0, 2, new ParallelOptions { MaxDegreeOfParallelism = 2 }, t =>
        {
            using RwkvState state = model.CreateState();
            var logits = new float[Vocab];
            ulong hash = FnvOffset;
            var tokens = new TokenStream(2 * t);
            for (int i = 0; i < Runs; i++)
            {
                int token = tokens.Next();
                while (true)
                {
                    try
                    {
                        shared.Forward([token], state, logits);
                        break;
                    }
                    catch (InvalidOperationException)
                    {
                        refused[t]++;
                    }
                }
                hash = Hash(hash, logits);
            }
            actual[t] = hash;
        });

        Assert.That(actual, Is.EqualTo(expected), "a refused call must not touch the state");
        TestContext.Out.WriteLine($"refused calls: {refused[0]}, {refused[1]}");
        Assert.That(refused.Sum(), Is.GreaterThan(0), "two threads hammering one runner must collide at least once");
    }

    [Test]
    public void OneStateOnTwoRunners_ConcurrentUseThrowsInvalidOperation()
    {
        using RwkvModel model = RwkvModel.Load(RuntimeReliabilityModels.Tiny7);
        using RwkvState state = model.CreateState();
        int refused = 0;
        var unexpected = new List<Exception>();
        Parallel.For(0, 2, new ParallelOptions { MaxDegreeOfParallelism = 2 }, _ =>
        {
            using RwkvRunner runner = model.CreateRunner();
            var logits = new float[Vocab];
            for (int i = 0; i < 400; i++)
            {
                try
                {
                    runner.Forward([i % Vocab], state, logits);
                }
                catch (InvalidOperationException)
                {
                    Interlocked.Increment(ref refused);
                }
                catch (Exception e)
                {
                    lock (unexpected)
                    {
                        unexpected.Add(e);
                    }
                }
            }
        });

        Assert.That(unexpected, Is.Empty);
        Assert.That(refused, Is.GreaterThan(0));
    }

    private static NUnit.Framework.Constraints.IResolveConstraint Usable(bool alive) =>
        alive ? Throws.Nothing : Throws.InstanceOf<ObjectDisposedException>();

    private const ulong FnvOffset = 14695981039346656037;

    // Each thread: its own runner and state; with churn, the runner is replaced every 100 runs and the state by
    // its clone every 250 (neither changes the results), and odd threads mix 8-token prefill runs into the steps.
    private static ulong[] RunConcurrently(RwkvModel model, int threads, int steps)
    {
        var hashes = new ulong[threads];
        var errors = new Exception?[threads];
        Thread[] workers = [.. Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            try
            {
                RwkvRunner runner = model.CreateRunner();
                RwkvState state = model.CreateState();
                try
                {
                    hashes[t] = RunStream(model, runner, state, t, steps, churn: true);
                }
                finally
                {
                    runner.Dispose();
                    state.Dispose();
                }
            }
            catch (Exception e)
            {
                errors[t] = e;
            }
        }))];
        foreach (Thread worker in workers)
        {
            worker.Start();
        }
        foreach (Thread worker in workers)
        {
            worker.Join();
        }
        Assert.That(errors, Has.All.Null);
        return hashes;
    }

    private static ulong RunStream(RwkvModel model, RwkvRunner runner, RwkvState state, int thread, int steps, bool churn)
    {
        var tokens = new TokenStream(thread);
        var logits = new float[Vocab];
        int[] chunk = new int[8];
        ulong hash = FnvOffset;
        try
        {
            for (int i = 0; i < steps; i++)
            {
                if (churn && i > 0 && i % 100 == 0)
                {
                    runner.Dispose();
                    runner = model.CreateRunner();
                }
                if (churn && i > 0 && i % 250 == 0)
                {
                    RwkvState clone = state.Clone();
                    state.Dispose();
                    state = clone;
                }
                if (thread % 2 == 1 && i % 10 == 0)
                {
                    for (int k = 0; k < chunk.Length; k++)
                    {
                        chunk[k] = tokens.Next();
                    }
                    runner.Forward(chunk, state, logits, RwkvForwardMode.Prefill);
                }
                else
                {
                    runner.Forward([tokens.Next()], state, logits);
                }
                hash = Hash(hash, logits);
            }
            return hash;
        }
        finally
        {
            // With churn the runner and state may be replacements made here; a second Dispose of the caller's is a no-op.
            if (churn)
            {
                runner.Dispose();
                state.Dispose();
            }
        }
    }

    private static ulong Hash(ulong hash, float[] logits)
    {
        foreach (uint bits in MemoryMarshal.Cast<float, uint>(logits))
        {
            hash = (hash ^ bits) * 1099511628211;
        }
        return hash;
    }

    private static (long Managed, long Rss) Measure()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return (GC.GetTotalMemory(forceFullCollection: true), ResidentBytes());
    }

    private static long ResidentBytes()
    {
        const string Status = "/proc/self/status";
        if (File.Exists(Status))
        {
            string? line = File.ReadLines(Status).FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            if (line is not null)
            {
                return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
            }
        }
        return Environment.WorkingSet;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    private static int EnvironmentInt(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0
            ? value : fallback;

    /// <summary>A deterministic token stream per thread (xorshift32), independent of timing.</summary>
    private struct TokenStream(int thread)
    {
        private uint _x = (uint)(2463534242 + (thread * 7919));

        public int Next()
        {
            _x ^= _x << 13;
            _x ^= _x >> 17;
            _x ^= _x << 5;
            return (int)(_x % Vocab);
        }
    }
}

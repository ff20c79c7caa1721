using System.Reflection;
using System.Text.RegularExpressions;
using Rwkv.Onnx.Tests.Fixtures;
using Rwkv.Onnx.Tests.Generation;

namespace Rwkv.Onnx.Tests.Build;

/// <summary>
/// The README's test command shows progress (each test as it finishes), and <c>.ci/run</c> still counts what it
/// prints: <c>.ci/test-summary.awk</c> sums the runner's summaries into "passed failed skipped assemblies".
/// </summary>
[TestFixture]
public sealed class TestCommandTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(3);

    [Test]
    public void DotnetTest_ListsEachTestAsItFinishes_AndTheCiSummaryCountsThem()
    {
        // The test project run as the README's `dotnet test RwkvOnnx.sln -c Release` runs it, on one small fixture.
        Type fixture = typeof(StopStringMatcherTests);
        string[] tests = [.. fixture.GetMethods().Where(m => m.GetCustomAttribute<TestAttribute>() is not null).Select(m => m.Name)];
        string project = Path.Combine(SharedFixtures.RepositoryRoot, "Rwkv.Onnx.Tests", "Rwkv.Onnx.Tests.csproj");

        ChildProcess.Result run = ChildProcess.Run("dotnet",
            ["test", project, "-c", ChildProcess.BuildConfiguration, "--no-build", "--filter", $"FullyQualifiedName~{fixture.FullName}"],
            s_timeout);

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(tests, Is.Not.Empty);
        string[] lines = run.StandardOutput.Split('\n');
        foreach (string test in tests)
        {
            Assert.That(lines, Has.Some.Match($@"^\s+Passed {Regex.Escape(test)} \["), $"no progress line for {test}\n{run}");
        }
        Assert.That(Summarize(run.StandardOutput + run.StandardError), Is.EqualTo($"{tests.Length} 0 0 1"));
    }

    [Test]
    public void Summary_NormalVerbosityBlocks_SumsEveryAssemblyAndIgnoresTestOutput()
    {
        // dotnet test over two NUnit projects (3 and 5 counted tests, one failing and one ignored in each) at the
        // console logger's normal verbosity; one test prints "Failed: 7", which is not a count.
        const string Log = """
            Test run for /tmp/vsfmt/a/bin/Debug/net10.0/a.dll (.NETCoreApp,Version=v10.0)
            A total of 1 test files matched the specified pattern.
            NUnit Adapter 6.3.1.0: Test execution started
            Running all tests in /tmp/vsfmt/a/bin/Debug/net10.0/a.dll
               NUnit3TestExecutor discovered 4 of 4 NUnit test cases using Current Discovery mode, Non-Explicit run
            Skipped: later
              Skipped Assumed [400 ms]
              Failed Bad [41 ms]
              Error Message:
                 Assert.That(1, Is.EqualTo(2))
              Expected: 2
              But was:  1

              Passed Good [< 1 ms]
              Skipped Skipped [< 1 ms]

            Test Run Failed.
            Total tests: 3
                 Passed: 1
                 Failed: 1
                Skipped: 1
             Total time: 4.7289 Seconds
            Test run for /tmp/vsfmt/b/bin/Debug/net10.0/b.dll (.NETCoreApp,Version=v10.0)
            A total of 1 test files matched the specified pattern.
            NUnit Adapter 6.3.1.0: Test execution started
            Running all tests in /tmp/vsfmt/b/bin/Debug/net10.0/b.dll
               NUnit3TestExecutor discovered 6 of 6 NUnit test cases using Current Discovery mode, Non-Explicit run
            Failed: 7

            Skipped: later
              Skipped Assumed [481 ms]
              Failed Bad [63 ms]
              Passed Good [< 1 ms]
              Passed Good2 [< 1 ms]
              Passed Good3 [< 1 ms]
              Skipped Skipped [< 1 ms]

            Test Run Failed.
            Total tests: 5
                 Passed: 3
                 Failed: 1
                Skipped: 1
             Total time: 6.9817 Seconds
            """;

        Assert.That(Summarize(Log), Is.EqualTo("4 2 2 2"));
    }

    [Test]
    public void Summary_MinimalVerbosityLines_AreStillSummed()
    {
        // What a --logger on the command line brings back: minimal verbosity's one line per assembly.
        const string Log = """
            Test run for /tmp/vsfmt/a/bin/Debug/net10.0/a.dll (.NETCoreApp,Version=v10.0)
              Failed Bad [97 ms]
            Failed!  - Failed:     1, Passed:     1, Skipped:     1, Total:     3, Duration: 543 ms - a.dll (net10.0)
            Passed!  - Failed:     0, Passed:    93, Skipped:     2, Total:    95, Duration: 21 s - b.dll (net10.0)
            """;

        Assert.That(Summarize(Log), Is.EqualTo("94 1 3 2"));
    }

    [Test]
    public void Summary_NoSummary_CountsNoAssembly()
    {
        const string Log = """
            /work/x/Foo.cs(3,1): error CS1002: ; expected
            Build FAILED.
            """;

        Assert.That(Summarize(Log), Is.EqualTo("0 0 0 0"));
    }

    // Runs .ci/run's summarizer over a log: "passed failed skipped assemblies".
    private static string Summarize(string log)
    {
        string script = Path.Combine(SharedFixtures.RepositoryRoot, ".ci", "test-summary.awk");
        ChildProcess.Result run = ChildProcess.Run("awk", ["-f", script], s_timeout, input: log);
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        return run.StandardOutput.Trim();
    }
}

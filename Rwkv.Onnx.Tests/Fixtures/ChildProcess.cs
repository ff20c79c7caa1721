using System.Diagnostics;

namespace Rwkv.Onnx.Tests.Fixtures;

/// <summary>Runs a command to completion and captures what it printed, for tests of the build and CI scripts.</summary>
internal static class ChildProcess
{
    /// <summary>What a finished command printed and its exit code.</summary>
    /// <param name="ExitCode">The exit code.</param>
    /// <param name="StandardOutput">Everything written to standard output.</param>
    /// <param name="StandardError">Everything written to standard error.</param>
    public sealed record Result(int ExitCode, string StandardOutput, string StandardError)
    {
        /// <summary>Both streams, for assertion messages.</summary>
        public override string ToString() => $"exit code {ExitCode}\n--- stdout ---\n{StandardOutput}\n--- stderr ---\n{StandardError}";
    }

    /// <summary>
    /// Runs <paramref name="fileName"/> with <paramref name="arguments"/>, feeding <paramref name="input"/> (if any) to its
    /// standard input, and waits at most <paramref name="timeout"/>; a command still running then is killed and fails the test.
    /// <paramref name="environment"/> sets (or overrides) environment variables of the child.
    /// </summary>
    public static Result Run(string fileName, IEnumerable<string> arguments, TimeSpan timeout, string? workingDirectory = null, string? input = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        using Process process = Process.Start(start)!; // Start with a file name returns a process or throws
        // Read both pipes concurrently: a child blocked on a full stderr pipe would never finish writing stdout.
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (input is not null)
        {
            process.StandardInput.Write(input);
        }
        process.StandardInput.Close();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.Fail($"'{fileName} {string.Join(' ', start.ArgumentList)}' ran longer than {timeout.TotalSeconds:F0} s and was killed.\n" +
                $"--- stdout ---\n{stdout.Result}\n--- stderr ---\n{stderr.Result}");
        }
        process.WaitForExit(); // flushes the redirected streams
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>The build configuration (Debug, Release) the test assembly was built in.</summary>
    public static string BuildConfiguration =>
        typeof(ChildProcess).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyConfigurationAttribute), false)
            .Cast<System.Reflection.AssemblyConfigurationAttribute>().Single().Configuration;
}

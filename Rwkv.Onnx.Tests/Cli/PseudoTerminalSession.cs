using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace Rwkv.Onnx.Tests.Cli;

/// <summary>
/// A command running under a real pseudo-terminal, through util-linux <c>script(1)</c> (Debian's essential bsdutils):
/// what the test writes is typed at the terminal (so <c>\x03</c> is Ctrl-C and becomes SIGINT), and everything the
/// command prints to the terminal is collected as text. Waits poll the collected text; nothing sleeps a fixed time.
/// </summary>
internal sealed class PseudoTerminalSession : IDisposable
{
    private readonly Process _script;
    private readonly Thread _reader;
    private readonly Lock _lock = new();
    private readonly StringBuilder _transcript = new();
    private readonly TimeSpan _timeout;

    private PseudoTerminalSession(Process script, TimeSpan timeout)
    {
        _script = script;
        _timeout = timeout;
        _reader = new Thread(ReadOutput) { IsBackground = true, Name = "pty output" };
        _reader.Start();
    }

    /// <summary>Starts <paramref name="arguments"/> (the first is the program) on a new pseudo-terminal.</summary>
    /// <param name="arguments">The program and its arguments, quoted here for script's shell.</param>
    /// <param name="timeout">How long each wait may take before the test fails.</param>
    /// <param name="standardOutputFile">A file to redirect the command's stdout to (stderr stays on the terminal); null keeps both on it.</param>
    /// <param name="environment">Environment variables to set; a null value removes the variable.</param>
    public static PseudoTerminalSession Start(IEnumerable<string> arguments, TimeSpan timeout, string? standardOutputFile = null,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        // -q no banner, -f flush each write, -e return the command's exit status, -c the command, /dev/null no log file.
        var start = new ProcessStartInfo("script")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        string redirect = standardOutputFile is null ? "" : " > " + Quote(standardOutputFile);
        foreach (string argument in new[] { "-qfec", "exec " + string.Join(' ', arguments.Select(Quote)) + redirect, "/dev/null" })
        {
            start.ArgumentList.Add(argument);
        }
        foreach ((string name, string? value) in environment ?? new Dictionary<string, string?>())
        {
            start.Environment[name] = value;
        }
        try
        {
            return new PseudoTerminalSession(Process.Start(start)!, timeout); // Start with a file name returns a process or throws
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException(
                $"Could not start util-linux script(1), which this test needs for a pseudo-terminal ({e.Message}); install bsdutils.", e);
        }
    }

    /// <summary>Everything printed so far.</summary>
    public string Transcript
    {
        get
        {
            lock (_lock)
            {
                return _transcript.ToString();
            }
        }
    }

    /// <summary>Types <paramref name="keys"/> at the terminal.</summary>
    public void Type(string keys)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(keys);
        _script.StandardInput.BaseStream.Write(bytes);
        _script.StandardInput.BaseStream.Flush();
    }

    /// <summary>Waits until <paramref name="text"/> is printed at or after <paramref name="from"/>; returns the index just after it.</summary>
    /// <exception cref="AssertionException">It did not appear within the timeout, or the command ended first.</exception>
    public int WaitFor(string text, int from = 0) =>
        Wait($"'{text}'", transcript =>
        {
            int at = transcript.IndexOf(text, Math.Min(from, transcript.Length), StringComparison.Ordinal);
            return at < 0 ? null : at + text.Length;
        });

    /// <summary>Waits until at least <paramref name="count"/> characters are printed after <paramref name="from"/>; returns the transcript's length then.</summary>
    public int WaitForCharacters(int count, int from) =>
        Wait($"{count} characters after index {from}", transcript => transcript.Length - from >= count ? transcript.Length : null);

    /// <summary>Waits for the command (and script) to end; returns its exit status.</summary>
    public int WaitForExit()
    {
        if (!_script.WaitForExit(_timeout))
        {
            Assert.Fail($"The command did not end within {_timeout.TotalSeconds} s. Transcript:{Environment.NewLine}{Transcript}");
        }
        _reader.Join(_timeout);
        return _script.ExitCode;
    }

    /// <summary>Ends the command if it still runs.</summary>
    public void Dispose()
    {
        if (!_script.HasExited)
        {
            _script.Kill(entireProcessTree: true);
            _script.WaitForExit();
        }
        _script.Dispose();
    }

    private int Wait(string what, Func<string, int?> found)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            string transcript = Transcript;
            if (found(transcript) is int end)
            {
                return end;
            }
            if (_script.HasExited && !_reader.IsAlive)
            {
                Assert.Fail($"The command ended (exit status {_script.ExitCode}) before printing {what}. Transcript:{Environment.NewLine}{transcript}");
            }
            if (clock.Elapsed > _timeout)
            {
                Assert.Fail($"No {what} within {_timeout.TotalSeconds} s. Transcript:{Environment.NewLine}{transcript}");
            }
            Thread.Sleep(20);
        }
    }

    private void ReadOutput()
    {
        Decoder decoder = Encoding.UTF8.GetDecoder();
        byte[] bytes = new byte[4096];
        char[] chars = new char[Encoding.UTF8.GetMaxCharCount(bytes.Length)];
        Stream output = _script.StandardOutput.BaseStream;
        int read;
        while ((read = output.Read(bytes)) > 0)
        {
            int count = decoder.GetChars(bytes, 0, read, chars, 0);
            lock (_lock)
            {
                _transcript.Append(chars, 0, count);
            }
        }
    }

    // One word for script's `sh -c`: single quotes, each ' written as '\''.
    private static string Quote(string word) => "'" + word.Replace("'", @"'\''", StringComparison.Ordinal) + "'";
}

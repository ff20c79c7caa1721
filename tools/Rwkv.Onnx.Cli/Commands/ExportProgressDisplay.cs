using Rwkv.Onnx.Export;
using Spectre.Console;

namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// Shows export progress on stderr: a Spectre.Console progress bar per stage where <see cref="ProgressTerminal"/> can draw
/// them (stderr a terminal with ANSI, whatever stdout is), otherwise plain lines (stage start, every quarter, stage end)
/// that read well in logs and tests.
/// </summary>
internal static class ExportProgressDisplay
{
    public static T Run<T>(TextWriter stderr, Func<IProgress<ExportProgress>, T> work) =>
        ProgressTerminal.Run(stderr, context => work(new Bars(context)), () => work(new PlainLines(stderr)));

    // Reports synchronously on the exporting thread (System.Progress<T> would post to the thread pool, out of order).
    private sealed class PlainLines(TextWriter stderr) : IProgress<ExportProgress>
    {
        private string? _stage;
        private int _lastQuarter = -1;

        public void Report(ExportProgress value)
        {
            int quarter = value.Total <= 0 ? 4 : (int)(4L * value.Done / value.Total);
            if (value.Stage != _stage)
            {
                _stage = value.Stage;
                _lastQuarter = -1;
            }
            if (quarter != _lastQuarter)
            {
                _lastQuarter = quarter;
                stderr.WriteLine($"export: {value.Stage} {value.Done}/{value.Total}");
            }
        }
    }

    private sealed class Bars(ProgressContext context) : IProgress<ExportProgress>
    {
        private readonly Dictionary<string, ProgressTask> _tasks = [];

        public void Report(ExportProgress value)
        {
            if (!_tasks.TryGetValue(value.Stage, out ProgressTask? task))
            {
                task = context.AddTask(Markup.Escape(value.Stage), maxValue: Math.Max(1, value.Total));
                _tasks.Add(value.Stage, task);
            }
            task.MaxValue = Math.Max(1, value.Total);
            task.Value = value.Done;
        }
    }
}

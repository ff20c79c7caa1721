using Spectre.Console;

namespace Rwkv.Onnx.Cli.Bench;

/// <summary>
/// Shows bench progress on stderr: live Spectre.Console bars (one per configuration) when stderr is the process's
/// terminal and understands ANSI cursor codes, otherwise one plain <c>bench: stage (done/total)</c> line per step.
/// </summary>
internal static class BenchProgress
{
    public static T Run<T>(TextWriter stderr, Func<IProgress<(string Stage, int Done, int Total)>, T> work) =>
        ProgressTerminal.Run(stderr, context => work(new Bars(context)), () => work(new PlainLines(stderr)));

    private sealed class PlainLines(TextWriter stderr) : IProgress<(string Stage, int Done, int Total)>
    {
        public void Report((string Stage, int Done, int Total) value) => stderr.WriteLine($"bench: {value.Stage} ({value.Done}/{value.Total})");
    }

    // One bar per configuration (the text before ':'), its description showing the current step.
    private sealed class Bars(ProgressContext context) : IProgress<(string Stage, int Done, int Total)>
    {
        private readonly Dictionary<string, ProgressTask> _tasks = [];

        public void Report((string Stage, int Done, int Total) value)
        {
            string key = value.Stage.Split(':')[0];
            if (!_tasks.TryGetValue(key, out ProgressTask? task))
            {
                task = context.AddTask(Markup.Escape(value.Stage), maxValue: Math.Max(1, value.Total));
                _tasks.Add(key, task);
            }
            task.Description = Markup.Escape(value.Stage);
            task.MaxValue = Math.Max(1, value.Total);
            task.Value = value.Done;
        }
    }
}

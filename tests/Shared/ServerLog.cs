#if NEWSLETTER_WEB
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Newsletter.Testing;

/// <summary>
/// What the app under test logged at Warning and above (with exception details), kept in memory so a
/// failing test can say what happened on the server. Without it, a 500 in a test only shows the friendly
/// error page and the cause is lost with the test host.
/// </summary>
public sealed class ServerLog : ILoggerProvider
{
    private const int Capacity = 500;

    private readonly ConcurrentQueue<string> _entries = new();

    public IReadOnlyList<string> Entries => [.. _entries];

    public bool HasErrors => _entries.Any(e => e.StartsWith("Error", StringComparison.Ordinal) || e.StartsWith("Critical", StringComparison.Ordinal));

    public override string ToString() => _entries.IsEmpty ? "(the server logged no warnings or errors)" : string.Join(Environment.NewLine, _entries);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private void Add(string entry)
    {
        _entries.Enqueue(entry);
        while (_entries.Count > Capacity && _entries.TryDequeue(out _))
        {
        }
    }

    private sealed class Logger(ServerLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                log.Add($"{logLevel} {DateTime.UtcNow:HH:mm:ss.fff} {category}: {formatter(state, exception)}{(exception is null ? "" : Environment.NewLine + exception)}");
            }
        }
    }
}
#endif

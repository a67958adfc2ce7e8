using Hangfire.Logging;

namespace Newsletter.Hangfire.Sqlite.TestHost;

/// <summary>Hangfire's log to stdout, so a test can read everything a server said (and look for "database is locked").</summary>
public sealed class ConsoleLogProvider(LogLevel minimum) : ILogProvider
{
    private static readonly object Sync = new();

    public ILog GetLogger(string name) => new Logger(name, minimum);

    private sealed class Logger(string name, LogLevel minimum) : ILog
    {
        public bool Log(LogLevel logLevel, Func<string>? messageFunc, Exception? exception = null)
        {
            if (logLevel < minimum)
            {
                return false;
            }

            if (messageFunc is null)
            {
                return true;
            }

            lock (Sync)
            {
                Console.Out.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} [{logLevel}] {name}: {messageFunc()}{(exception is null ? "" : "\n" + exception)}");
                Console.Out.Flush();
            }

            return true;
        }
    }
}

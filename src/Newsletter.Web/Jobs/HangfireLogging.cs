using Hangfire.Logging;
using MsLogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace Newsletter.Web.Jobs;

/// <summary>
/// Hangfire logs through one process-wide LogProvider, and AddHangfire points it at the ILoggerFactory of
/// whichever host resolved its configuration last. Hangfire also fetches loggers lazily and caches them
/// process-wide (an [AutomaticRetry] attribute gets its logger the first time a job method is enqueued).
/// So with two hosts in one process (every test run, a web and a worker role side by side) the global
/// provider can point at a host that has been disposed, and the next Enqueue anywhere in the process
/// throws ObjectDisposedException: a 500 for a CSV upload. This provider is installed once; each host
/// registers its factory while it runs, and every log line goes to the newest host that is still running.
/// </summary>
internal sealed class HangfireLogging : ILogProvider
{
    public static HangfireLogging Instance { get; } = new();

    private readonly List<ILoggerFactory> _hosts = [];

    private HangfireLogging()
    {
    }

    /// <summary>Routes Hangfire's logging to this host's factory until the host stops.</summary>
    public static void Register(IServiceProvider services)
    {
        var factory = services.GetRequiredService<ILoggerFactory>();
        lock (Instance._hosts)
        {
            Instance._hosts.Add(factory);
        }

        // Unregistered when the host stops, before its logger factory is disposed.
        services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopped.Register(() =>
        {
            lock (Instance._hosts)
            {
                Instance._hosts.Remove(factory);
            }
        });
    }

    public ILog GetLogger(string name) => new RoutedLog(this, name);

    private ILogger? Current(string name)
    {
        ILoggerFactory? factory;
        lock (_hosts)
        {
            factory = _hosts.Count > 0 ? _hosts[^1] : null;
        }

        try
        {
            return factory?.CreateLogger(name);
        }
        catch (ObjectDisposedException)
        {
            // Lost the race with a host that stopped between the lookup and here; the next one takes over.
            lock (_hosts)
            {
                _hosts.Remove(factory!);
            }

            return Current(name);
        }
    }

    /// <summary>A logger that finds its host at each call, so a logger cached by Hangfire never outlives one.</summary>
    private sealed class RoutedLog(HangfireLogging provider, string name) : ILog
    {
        public bool Log(global::Hangfire.Logging.LogLevel logLevel, Func<string>? messageFunc, Exception? exception = null)
        {
            var logger = provider.Current(name);
            var level = logLevel switch
            {
                global::Hangfire.Logging.LogLevel.Trace => MsLogLevel.Trace,
                global::Hangfire.Logging.LogLevel.Debug => MsLogLevel.Debug,
                global::Hangfire.Logging.LogLevel.Info => MsLogLevel.Information,
                global::Hangfire.Logging.LogLevel.Warn => MsLogLevel.Warning,
                global::Hangfire.Logging.LogLevel.Error => MsLogLevel.Error,
                global::Hangfire.Logging.LogLevel.Fatal => MsLogLevel.Critical,
                _ => MsLogLevel.None,
            };

            // Hangfire asks "is this level on?" with a null message.
            if (logger is null || messageFunc is null)
            {
                return logger?.IsEnabled(level) ?? false;
            }

            if (logger.IsEnabled(level))
            {
                logger.Log(level, default, messageFunc(), exception, static (message, _) => message);
            }

            return true;
        }
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using Hangfire;
using Hangfire.Logging;
using Microsoft.Data.Sqlite;

[assembly: AssemblyFixture(typeof(Newsletter.Hangfire.Sqlite.Tests.HangfireLog))]

namespace Newsletter.Hangfire.Sqlite.Tests;

/// <summary>A folder of its own per test, so every test has its own SQLite file.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "newsletter-jobs-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Db => File("jobs.db");

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public SqliteStorage OpenStorage(Action<SqliteStorageOptions>? configure = null)
    {
        var options = new SqliteStorageOptions { Path = Db, QueuePollInterval = TimeSpan.FromMilliseconds(100) };
        configure?.Invoke(options);
        return new SqliteStorage(options);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A pooled handle still open on the file; the OS cleans the temp folder.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>
/// Everything Hangfire and the storage log in this test process, at Info and above, so tests can look for what must never
/// appear ("database is locked") and show what happened when they fail.
/// </summary>
public sealed class HangfireLog : ILogProvider
{
    private static readonly ConcurrentQueue<string> Lines = new();

    public HangfireLog() => GlobalConfiguration.Configuration.UseLogProvider(this);

    public static IReadOnlyCollection<string> All => Lines;

    public ILog GetLogger(string name) => new Logger(name);

    private sealed class Logger(string name) : ILog
    {
        public bool Log(LogLevel logLevel, Func<string>? messageFunc, Exception? exception = null)
        {
            if (logLevel < LogLevel.Info)
            {
                return false;
            }

            if (messageFunc is not null)
            {
                Lines.Enqueue($"[{logLevel}] {name}: {messageFunc()} {exception}");
            }

            return true;
        }
    }
}

/// <summary>
/// A TestHost process: a server, fetcher or lock holder the test can talk to over stdin/stdout and kill -9. Always disposed
/// in a using, which kills it if it still runs, so no test leaves a process behind.
/// </summary>
public sealed class HostProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly SemaphoreSlim _lineArrived = new(0);

    private HostProcess(Process process)
    {
        _process = process;
    }

    public int Id => _process.Id;

    public string Output => string.Join('\n', _lines);

    public static HostProcess Start(string mode, string db, params string[] options)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Newsletter.Hangfire.Sqlite.TestHost.dll");
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { dll, mode, "--db", db }.Concat(options))
        {
            info.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var host = new HostProcess(process);
        process.OutputDataReceived += (_, e) => host.Add(e.Data);
        process.ErrorDataReceived += (_, e) => host.Add(e.Data is null ? null : "stderr: " + e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return host;
    }

    public async Task WaitForLineAsync(string text, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (!Said(text))
        {
            if (_process.HasExited)
            {
                _process.WaitForExit(); // drains the redirected output
                if (Said(text))
                {
                    return;
                }

                throw new InvalidOperationException($"TestHost {Id} exited ({_process.ExitCode}) before it said '{text}':\n{Output}");
            }

            if (watch.Elapsed > timeout)
            {
                throw new TimeoutException($"TestHost {Id} did not say '{text}' within {timeout}:\n{Output}");
            }

            await _lineArrived.WaitAsync(TimeSpan.FromMilliseconds(200), CancellationToken.None);
        }
    }

    public bool Said(string text) => _lines.Any(l => l.Contains(text, StringComparison.Ordinal));

    public void Send(string line)
    {
        _process.StandardInput.WriteLine(line);
        _process.StandardInput.Flush();
    }

    /// <summary>SIGKILL: the process gets no chance to release, requeue or say goodbye.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
    }

    public async Task StopAsync(TimeSpan timeout)
    {
        Send("stop");
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"TestHost {Id} did not exit within {timeout}:\n{Output}");
        }

        _process.WaitForExit(); // drains the redirected output
        return _process.ExitCode;
    }

    public void Dispose()
    {
        try
        {
            Kill();
        }
        catch (InvalidOperationException)
        {
            // never started
        }

        _process.Dispose();
        _lineArrived.Dispose();
    }

    private void Add(string? line)
    {
        if (line is not null)
        {
            _lines.Enqueue(line);
            _lineArrived.Release();
        }
    }
}

/// <summary>Polls a condition until it holds or a generous deadline passes; the deadline only bounds a broken run.</summary>
public static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, TimeSpan timeout, Func<string> describe)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > timeout)
            {
                throw new TimeoutException($"Not true within {timeout}: {describe()}");
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }
}

/// <summary>Direct reads of the storage's file, for checks Hangfire's API cannot make (rows left, sizes).</summary>
public static class Db
{
    public static long Scalar(string file, string sql)
    {
        using var connection = new SqliteConnection($"Data Source={file};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public static string Text(string file, string sql)
    {
        using var connection = new SqliteConnection($"Data Source={file};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToString(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture)!;
    }

    public static void Execute(string file, string sql)
    {
        using var connection = new SqliteConnection($"Data Source={file};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}

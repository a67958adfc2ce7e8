using System.Globalization;
using Hangfire;
using Hangfire.Server;

namespace Newsletter.Hangfire.Sqlite.TestHost;

/// <summary>The jobs the storage tests enqueue. Each writes to a ledger folder named in its arguments.</summary>
public static class TestJobs
{
    public static void Noop()
    {
    }

    public static void Record(string ledger, string key) => Ledger.Append(ledger, $"run {key}");

    public static void SleepAndRecord(string ledger, string key, int milliseconds)
    {
        Ledger.Append(ledger, $"start {key}");
        Thread.Sleep(milliseconds);
        Ledger.Append(ledger, $"end {key}");
    }

    /// <summary>
    /// The first run (in any process) hangs for <paramref name="milliseconds"/>, long enough for a test to kill its server;
    /// a run after that finishes at once.
    /// </summary>
    public static void HangOnFirstRun(string ledger, string key, int milliseconds)
    {
        var first = !Ledger.Read(ledger).Any(l => l.Event == "start" && l.Key == key);
        Ledger.Append(ledger, $"start {key}");
        if (first)
        {
            Thread.Sleep(milliseconds);
        }

        Ledger.Append(ledger, $"end {key}");
    }

    /// <summary>Fails on its first <paramref name="failures"/> attempts, whichever process runs them.</summary>
    [AutomaticRetry(Attempts = 5, DelaysInSeconds = [1])]
    public static void FailTimes(string ledger, string key, int failures)
    {
        var attempts = Ledger.Read(ledger).Count(l => l.Event == "attempt" && l.Key == key);
        Ledger.Append(ledger, $"attempt {key}");
        if (attempts < failures)
        {
            throw new InvalidOperationException($"Planned failure {attempts + 1} of {failures} for {key}.");
        }

        Ledger.Append(ledger, $"run {key}");
    }

    /// <summary>Records which occurrence of a recurring job this is, by the "Time" parameter Hangfire stamps on it.</summary>
    public static void RecordOccurrence(string ledger, string key, PerformContext? context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var time = context.GetJobParameter<long>("Time");
        Ledger.Append(ledger, string.Create(CultureInfo.InvariantCulture, $"occurrence {key} {time}"));
    }
}

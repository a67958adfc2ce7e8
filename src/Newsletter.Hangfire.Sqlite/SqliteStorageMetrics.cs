using System.Diagnostics.Metrics;

namespace Newsletter.Hangfire.Sqlite;

/// <summary>
/// What the storage costs the file: write transactions, the statements run inside them and the pages they wrote, counted
/// for every storage in the process. SQLite has one writer at a time, so these figures bound how many jobs per second one
/// file can take; the jobs benchmark divides them by the jobs it ran.
/// </summary>
public static class SqliteStorageMetrics
{
    /// <summary>The name of the meter that carries the storage's counters.</summary>
    public const string MeterName = "Newsletter.Hangfire.Sqlite";

    private static readonly Meter Meter = new(MeterName);

    internal static readonly Counter<long> WriteTransactions = Meter.CreateCounter<long>(
        "hangfire.sqlite.write_transactions", unit: "{transaction}", description: "Write transactions committed to the job database");

    internal static readonly Counter<long> WriteStatements = Meter.CreateCounter<long>(
        "hangfire.sqlite.write_statements", unit: "{statement}", description: "Statements run inside write transactions of the job database");

    internal static readonly Counter<long> PagesWritten = Meter.CreateCounter<long>(
        "hangfire.sqlite.pages_written", unit: "{page}", description: "Database pages the write transactions wrote to the job database's WAL");
}

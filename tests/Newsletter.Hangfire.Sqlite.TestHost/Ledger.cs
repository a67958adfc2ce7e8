using System.Globalization;
using System.Text;

namespace Newsletter.Hangfire.Sqlite.TestHost;

/// <summary>
/// What the test jobs did, counted outside Hangfire: each process appends lines to its own file in a ledger folder (one
/// writer per file, flushed per line, so a kill -9 loses at most the line being written), and a test reads them all.
/// </summary>
public static class Ledger
{
    private static readonly object Sync = new();

    public static void Append(string folder, string line)
    {
        lock (Sync)
        {
            Directory.CreateDirectory(folder);
            var path = Path.Combine(folder, $"{Environment.ProcessId}.log");
            using var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
            var bytes = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{line} {Environment.ProcessId}\n"));
            stream.Write(bytes);
            stream.Flush(flushToDisk: false);
        }
    }

    /// <summary>Every complete line of every process, as (event, key, detail, pid).</summary>
    public static IReadOnlyList<LedgerLine> Read(string folder)
    {
        if (!Directory.Exists(folder))
        {
            return [];
        }

        var lines = new List<LedgerLine>();
        foreach (var file in Directory.GetFiles(folder, "*.log"))
        {
            string text;
            lock (Sync)
            {
                using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                using var reader = new StreamReader(stream);
                text = reader.ReadToEnd();
            }

            // A line without its newline was cut by a kill; it never counts.
            var complete = text.EndsWith('\n') ? text : text[..(text.LastIndexOf('\n') + 1)];
            foreach (var line in complete.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var parts = line.Split(' ');
                lines.Add(new LedgerLine(parts[0], parts[1], parts.Length > 3 ? parts[2] : "", int.Parse(parts[^1], CultureInfo.InvariantCulture)));
            }
        }

        return lines;
    }
}

public sealed record LedgerLine(string Event, string Key, string Detail, int ProcessId);

using Newsletter.Benchmarks;

// dotnet run -c Release --project tests/Newsletter.Benchmarks -- NAME [options]
// Each benchmark runs its baseline side by side in the same run and prints the ratio.
var name = args.FirstOrDefault() ?? "help";
var rest = args.Skip(1).ToArray();
try
{
    return name switch
    {
        "coldstart" => await Newsletter.Benchmarks.Site.ColdStartBenchmark.RunAsync(rest),
        "note" => await Newsletter.Benchmarks.Notes.NoteBenchmark.RunAsync(rest),
        "import" => await Newsletter.Benchmarks.Subscribers.ImportBenchmark.RunAsync(rest),
        "subscribe" => await Newsletter.Benchmarks.Subscribers.SubscribeBenchmark.RunAsync(rest),
        "subscribers" => await Newsletter.Benchmarks.Subscribers.ListBenchmark.RunAsync(rest),
        "jobs" => await Newsletter.Benchmarks.Jobs.JobsBenchmark.RunAsync(rest),
        "s3" => await Newsletter.Benchmarks.Archive.ArchiveBenchmark.RunAsync(rest),
        "s1" or "s2" or "s5" or "s6" or "messages" => await Newsletter.Benchmarks.Sending.SendBenchmark.RunAsync(name, rest),
        "mail" => await Newsletter.Benchmarks.Mail.MailBenchmark.RunAsync(rest),
        "templates" => await Newsletter.Benchmarks.Mail.TemplateBenchmark.RunAsync(rest),
        "backup" => await Newsletter.Benchmarks.Operations.BackupBenchmark.RunAsync(rest),
        // Not a benchmark: the bare Kestrel the others start as their baseline.
        Newsletter.Benchmarks.BareKestrel.Verb => await Newsletter.Benchmarks.BareKestrel.RunAsync(rest),
        _ => Usage(),
    };
}
finally
{
    // A run's files (a million-reader database, a 52 MB CSV, the sink's mail) go with it: left behind, runs filled the disk.
    Bench.DeleteTemp();
}

static int Usage()
{
    Console.WriteLine("""
        Benchmarks (run with -c Release):
          coldstart  process start to the first home page: first run, restart, and a bare Kestrel
          note       a note page under wrk (-c1, -c50): p50/p99 and req/s vs nginx and a bare Kestrel
          import     1,000,000-row CSV import vs a bare prepared-insert loop; rows/s, ratio, peak RSS
          subscribe  the subscribe endpoint under wrk; requests/s and p99, vs a bare Kestrel form POST ([seconds] [connections] [--provider] [--warm s] [--jobs])
          subscribers  the admin list at 1,000,000 rows: pages, filters, search, export (ms each)
          jobs       no-op Hangfire jobs/s on our SQLite storage vs Hangfire.InMemory, 1 and 2 servers
          s3         archive and issue pages under wrk -c50 vs nginx serving the same bytes
          s1         one ~20 KB issue to 100,000 readers into smtp-sink vs smtp-source and a bare MailKit loop;
                     with --provider or --nodes N: the app alone, per database, one node beside N, msg/s and the ratios
          s2         s1 with DKIM on, vs openssl speed rsa2048 x cores
          s5         the ledger snapshot of 100,000 recipients (--readers 1000000 for issue 10's goal: under 10 s)
          s6         peak RSS sending to 1,000 and to 1,000,000 readers
          messages   CPU per message in-process: building each reader's copy vs writing a pre-built one, and signing it with DKIM
          backup     the backup verb on 100,000 readers and their ledgers: idle vs sqlite3 .backup + gzip, and /health/ready
                     and a writer under load with and without backups running ([--readers N] [--seconds S])
          mail       DKIM signs per CPU second (ours, its RSA and body hash apart, vs MimeKit's BouncyCastle path) and one-connection SMTP msg/s with and without TCP_NODELAY
          templates  CPU per call of the email templates: parse all, render a confirmation, render a ~20 KB issue,
                     vs filling the issue rendered once with one reader's values ([--count N])
          (options: --readers N, --connections N; s6: --small N;
           s1, s5, subscribe: --provider Sqlite|PostgreSql|both, default Sqlite, both prints PostgreSQL/SQLite;
           PostgreSQL is a throwaway cluster from /usr/lib/postgresql (initdb, pg_ctl) with fsync off;
           s1: --nodes N, N app processes on one database and one job store beside one, goal N/1 >= 1.6 for two)
        """);
    return 2;
}

namespace Newsletter.Benchmarks
{
    /// <summary>Shared helpers for benchmarks.</summary>
    public static class Bench
    {
        public static string Root { get; } = FindRoot();

        private static readonly System.Collections.Concurrent.ConcurrentBag<string> Made = [];

        /// <summary>The number after the option <paramref name="name"/> (as in <c>--readers 1000</c>), or <paramref name="fallback"/>.</summary>
        public static int Int(string[] args, string name, int fallback)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture) : fallback;
        }

        public static string Temp(string name)
        {
            var dir = Path.Combine(Path.GetTempPath(), "newsletter-bench", $"{name}-{DateTime.UtcNow:HHmmss}-{Environment.ProcessId}");
            Directory.CreateDirectory(dir);
            Made.Add(dir);
            return dir;
        }

        /// <summary>Deletes the folders this run made; one still in use by a process that outlived the run stays.</summary>
        public static void DeleteTemp()
        {
            foreach (var dir in Made)
            {
                try
                {
                    Directory.Delete(dir, recursive: true);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    Console.Error.WriteLine($"Left {dir}: {e.Message}");
                }
            }
        }

        /// <summary>The built web app next to this benchmark (it is a project reference).</summary>
        public static string WebDll => Path.Combine(AppContext.BaseDirectory, "Newsletter.Web.dll");

        /// <summary>The 1, 5 and 15 minute load averages: a figure from a busy machine says so beside it.</summary>
        public static string LoadAverage => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

        public static long PeakRssBytes(int pid)
        {
            try
            {
                foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                {
                    if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    {
                        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
                    }
                }
            }
            catch (IOException)
            {
                // the process is gone
            }

            return 0;
        }

        /// <summary>User plus system CPU time of a running process (from /proc), or null once it is gone.</summary>
        public static TimeSpan? CpuTime(int pid)
        {
            try
            {
                // Fields 14 and 15 of /proc/PID/stat, after the parenthesised command name.
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var ticks = long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
                return TimeSpan.FromSeconds(ticks / 100.0);
            }
            catch (IOException)
            {
                return null;
            }
        }

        private static string FindRoot()
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Newsletter.sln")))
                {
                    return dir.FullName;
                }
            }

            return Directory.GetCurrentDirectory();
        }
    }
}

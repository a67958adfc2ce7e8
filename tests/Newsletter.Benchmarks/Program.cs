using Newsletter.Benchmarks;

// dotnet run -c Release --project tests/Newsletter.Benchmarks -- NAME [options]
// Each benchmark runs its baseline side by side in the same run and prints the ratio.
var name = args.FirstOrDefault() ?? "help";
var rest = args.Skip(1).ToArray();
return name switch
{
    "import" => await Newsletter.Benchmarks.Subscribers.ImportBenchmark.RunAsync(rest),
    "subscribe" => await Newsletter.Benchmarks.Subscribers.SubscribeBenchmark.RunAsync(rest),
    "jobs" => await Newsletter.Benchmarks.Jobs.JobsBenchmark.RunAsync(rest),
    "s3" => await Newsletter.Benchmarks.Archive.ArchiveBenchmark.RunAsync(rest),
    "s1" or "s2" or "s5" or "s6" or "messages" => await Newsletter.Benchmarks.Sending.SendBenchmark.RunAsync(name, rest),
    "mail" => await Newsletter.Benchmarks.Mail.MailBenchmark.RunAsync(rest),
    _ => Usage(),
};

static int Usage()
{
    Console.WriteLine("""
        Benchmarks (run with -c Release):
          import     1,000,000-row CSV import vs a bare prepared-insert loop; rows/s, ratio, peak RSS
          subscribe  the subscribe endpoint under wrk; requests/s and p99
          jobs       no-op Hangfire jobs/s on our SQLite storage vs Hangfire.InMemory, 1 and 2 servers
          s3         archive and issue pages under wrk -c50 vs nginx serving the same bytes
          s1         one ~20 KB issue to 100,000 readers into smtp-sink vs smtp-source and a bare MailKit loop
          s2         s1 with DKIM on, vs openssl speed rsa2048 x cores
          s5         the ledger snapshot of 100,000 recipients
          s6         peak RSS sending to 1,000 and to 1,000,000 readers
          messages   CPU per message in-process: building each reader's copy vs writing a pre-built one
          mail       DKIM signs/s (ours vs MimeKit's BouncyCastle path) and one-connection SMTP msg/s with and without TCP_NODELAY
          (options: --readers N, --connections N; s6: --small N)
        """);
    return 2;
}

namespace Newsletter.Benchmarks
{
    /// <summary>Shared helpers for benchmarks.</summary>
    public static class Bench
    {
        public static string Root { get; } = FindRoot();

        public static string Temp(string name)
        {
            var dir = Path.Combine(Path.GetTempPath(), "newsletter-bench", $"{name}-{DateTime.UtcNow:HHmmss}-{Environment.ProcessId}");
            Directory.CreateDirectory(dir);
            return dir;
        }

        /// <summary>The built web app next to this benchmark (it is a project reference).</summary>
        public static string WebDll => Path.Combine(AppContext.BaseDirectory, "Newsletter.Web.dll");

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

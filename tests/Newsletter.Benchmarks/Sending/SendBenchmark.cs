using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using MimeKit;
using Newsletter.Mail;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Issues;
using Newsletter.Web.Sending;

namespace Newsletter.Benchmarks.Sending;

/// <summary>
/// The sending benchmarks of issue 5, each with its baselines run side by side in the same run:
/// <list type="bullet">
/// <item>s1: one issue (~20 KB of HTML plus text) to 100,000 readers into Postfix's smtp-sink, timed from
/// the send to the last accepted message; against smtp-source with the same size and connections into the
/// same sink, and a bare MailKit loop sending pre-built messages.</item>
/// <item>s2: s1 with DKIM on, against <c>openssl speed rsa2048</c> signs/s × cores.</item>
/// <item>s5: the snapshot of 100,000 recipients into the ledger.</item>
/// <item>s6: the app's peak RSS while sending to 1,000 and to 1,000,000 readers.</item>
/// </list>
/// </summary>
public static partial class SendBenchmark
{
    private const int HtmlBytes = 20 * 1024;

    private static readonly Dictionary<string, string> AppEnvironment = [];

    public static async Task<int> RunAsync(string name, string[] args)
    {
        if (!SmtpSink.Installed(out var why) && name is not ("s5" or "messages"))
        {
            Console.Error.WriteLine(why);
            return 2;
        }

        Loopback.WarnIfDebug();

        var readers = Bench.Int(args, "--readers", name == "s6" ? 1_000_000 : 100_000);
        // --app-env KEY=VALUE (repeatable): runtime settings for the app process only, to try a knob side by side.
        for (var i = 0; i + 1 < args.Length; i++)
        {
            if (args[i] == "--app-env" && args[i + 1].Split('=', 2) is [var key, var value])
            {
                AppEnvironment[key] = value;
            }
        }

        var connections = Bench.Int(args, "--connections", 4);
        var providers = BenchDatabase.Providers(args);
        var nodes = Bench.Int(args, "--nodes", 1);
        return name switch
        {
            "s1" when providers is [DatabaseProvider.Sqlite] && nodes == 1 => await S1Async(readers, connections, dkim: false),
            "s1" => await S1SideBySideAsync(readers, connections, providers, nodes),
            "s2" => await S1Async(readers, connections, dkim: true),
            "s5" => await S5Async(readers, providers),
            "s6" => await S6Async(Bench.Int(args, "--small", 1_000), readers, connections),
            "messages" => await MessageCost.RunAsync(Bench.Int(args, "--count", 20_000)),
            _ => 2,
        };
    }

    private static async Task<int> S1Async(int readers, int connections, bool dkim)
    {
        var (html, text) = SendSeed.Body(HtmlBytes);
        using var sink = await SmtpSink.StartAsync();
        // The baselines send readers' copies made by the app's own code: the same bytes, built in advance.
        var copies = await ReaderCopies.CreateAsync(Bench.Temp("copies"));
        var prebuilt = Enumerable.Range(0, 1000).Select(copies.Build).ToList();
        var messageBytes = ReaderCopies.Size(prebuilt[0]);
        Console.WriteLine($"{(dkim ? "S2" : "S1")}: {readers:N0} messages of {messageBytes / 1024.0:F1} KB ({html.Length / 1024.0:F1} KB of body HTML), "
            + $"{connections} connections, into smtp-sink on 127.0.0.1:{sink.Port}; {Environment.ProcessorCount} cores");

        // Ours first, while the machine is coolest; then the baselines on the same sink.
        var ours = await AppSendAsync(sink, readers, connections, html, text, dkim);
        // Both ways of writing the bare loop run; the faster one is the baseline, so ours is held to the best.
        var bareAsync = await BareMailKitAsync(sink.Port, readers, connections, prebuilt);
        var bareSync = BareMailKitSync(sink.Port, readers, connections, prebuilt);
        var bare = bareSync.Seconds <= bareAsync.Seconds ? bareSync : bareAsync;
        var source = await SmtpSourceAsync(sink.Port, readers, connections, messageBytes);

        Console.WriteLine();
        Console.WriteLine($"{"sender",-46} {"seconds",8} {"msg/s",8} {"slowest conn msg/s",19} {"CPU us/msg",11}");
        Row("Newsletter (app process, ledger, SQLite jobs)" + (dkim ? ", DKIM" : ""), ours.Seconds, readers, ours.SlowestConnection, ours.Cpu);
        Row("bare MailKit loop, async, pre-built messages", bareAsync.Seconds, readers, bareAsync.SlowestConnection, bareAsync.Cpu);
        Row("bare MailKit loop, sync, pre-built messages", bareSync.Seconds, readers, bareSync.SlowestConnection, bareSync.Cpu);
        Row("Postfix smtp-source", source, readers, null, null);
        Console.WriteLine("(CPU is the sender process's own, user and system; the sink's is not counted. It is what a busy machine distorts least.)");
        Console.WriteLine($"app peak RSS {ours.PeakRss / 1048576.0:F0} MB; preparing (snapshot to first accepted message) {ours.PreparingSeconds:F2} s");
        var vsBare = bare.Seconds / ours.Seconds;
        var vsSource = source / ours.Seconds;
        var met = true;
        if (!dkim)
        {
            met &= Goal($"ours / the faster bare MailKit loop = {vsBare:F2}", vsBare >= 0.9, ">= 0.9");
            met &= Goal($"ours / smtp-source = {vsSource:F2}", vsSource >= 0.25, ">= 0.25");
        }
        else
        {
            Console.WriteLine($"for reference: ours / bare MailKit without DKIM = {vsBare:F2}, ours / smtp-source = {vsSource:F2}");
            var signs = Mail.MailBenchmark.OpensslSignsPerSecond(TimeSpan.FromSeconds(3));
            if (signs is { } s)
            {
                var ceiling = s * Environment.ProcessorCount;
                var rate = readers / ours.Seconds;
                met &= Goal($"ours {rate:N0} msg/s / (openssl {s:N0} sign/s x {Environment.ProcessorCount} cores = {ceiling:N0}) = {rate / ceiling:F2}", rate / ceiling >= 0.5, ">= 0.5");
            }
            else
            {
                Console.WriteLine("openssl is not installed: no ceiling to compare with.");
                met = false;
            }
        }

        met &= Goal($"slowest connection {ours.SlowestConnection:N0} msg/s", ours.SlowestConnection >= 200, ">= 200 (no Nagle stalls)");
        Console.WriteLine(met ? "goals met." : "goals NOT met.");
        return met ? 0 : 1;
    }

    /// <summary>
    /// s1 side by side on the databases of --provider, and with --nodes N also N app processes on one database
    /// beside one: the same issue to the same number of readers into the same sink, each run from a fresh
    /// database, msg/s and the ratios PostgreSQL/SQLite and N nodes/one node. Every run starts its nodes first
    /// and then marks the issue due, so no node starts alone. Where the time went is printed per run: the apps'
    /// CPU per message, the database's and the sink's, and how busy the whole machine was.
    /// </summary>
    private static async Task<int> S1SideBySideAsync(int readers, int connections, IReadOnlyList<DatabaseProvider> providers, int nodes)
    {
        var (html, text) = SendSeed.Body(HtmlBytes);
        using var sink = await SmtpSink.StartAsync();
        Console.WriteLine($"S1 side by side: one ~20 KB issue to {readers:N0} readers into smtp-sink on 127.0.0.1:{sink.Port}; {connections} send workers "
            + $"(one SMTP connection each) per node; {Environment.ProcessorCount} cores; PostgreSQL runs with fsync off");
        List<int> counts = nodes > 1 ? [1, nodes] : [1];
        var runs = new List<(DatabaseProvider Provider, int Nodes, AppRun Run)>();
        foreach (var provider in providers)
        {
            foreach (var n in counts)
            {
                Console.WriteLine($"{provider}, {n} node(s) (load average before: {Bench.LoadAverage}):");
                runs.Add((provider, n, await AppSendAsync(sink, readers, connections, html, text, dkim: false, afterStartUp: true, provider, n)));
            }
        }

        Console.WriteLine();
        Console.WriteLine($"{"database",-11} {"nodes",5} {"seconds",8} {"msg/s",8} {"slowest conn",12} {"app us/msg",10} {"db us/msg",9} {"sink us/msg",11} {"machine busy",12}");
        foreach (var (provider, n, run) in runs)
        {
            Console.WriteLine($"{provider,-11} {n,5} {run.Seconds,8:F2} {run.PerSecond(readers),8:N0} {run.SlowestConnection,12:N0} "
                + $"{run.Cpu.TotalMilliseconds * 1000 / readers,10:F0} {run.Around.Database * 1e6 / readers,9:F0} {run.Around.Sink * 1e6 / readers,11:F0} {run.Around.MachineBusy,12:P0}");
        }

        Console.WriteLine("(seconds: from the issue's start, snapshot included, to the last accepted message. us/msg: CPU time per message, user plus system,");
        Console.WriteLine(" of all app processes together, of the PostgreSQL cluster, of smtp-sink. machine busy: of all cores, during the send.)");
        var met = true;
        AppRun Find(DatabaseProvider p, int n) => runs.Single(r => r.Provider == p && r.Nodes == n).Run;
        if (providers.Count == 2)
        {
            foreach (var n in counts)
            {
                var ratio = Find(DatabaseProvider.PostgreSql, n).PerSecond(readers) / Find(DatabaseProvider.Sqlite, n).PerSecond(readers);
                Console.WriteLine($"ratio PostgreSQL/SQLite, {n} node(s): {ratio:F2} (msg/s)");
            }
        }

        if (nodes > 1)
        {
            foreach (var provider in providers)
            {
                // What the cores allow: all of them spent at the N-node run's CPU per message (apps, database, sink),
                // over what one node reached. Honest only on an otherwise idle machine: a busy one slows the one node too.
                var many = Find(provider, nodes);
                var perMessage = (many.Cpu.TotalSeconds + many.Around.Database + many.Around.Sink) / readers;
                var ceiling = Environment.ProcessorCount / perMessage;
                Console.WriteLine($"{provider}: {perMessage * 1e6:F0} us of CPU per message with {nodes} nodes -> at most {ceiling:N0} msg/s on {Environment.ProcessorCount} cores, "
                    + $"{ceiling / Find(provider, 1).PerSecond(readers):F2} x one node's {Find(provider, 1).PerSecond(readers):N0} msg/s");
                var ratio = many.PerSecond(readers) / Find(provider, 1).PerSecond(readers);
                met &= Goal($"{provider}: {nodes} nodes / one node = {ratio:F2} (msg/s)", ratio >= 1.6, ">= 1.6");
            }
        }

        Console.WriteLine(met ? "goals met." : "goals NOT met.");
        return met ? 0 : 1;
    }

    /// <summary>
    /// The snapshot (<see cref="Ledger.SnapshotAsync"/>, the app's own statement) on each database, then a re-run
    /// that must add nobody. Goal: 10 s per 1,000,000 readers (issue 10), and never more than 2 s for 100,000 (issue 5).
    /// </summary>
    private static async Task<int> S5Async(int readers, IReadOnlyList<DatabaseProvider> providers)
    {
        var goal = Math.Max(2.0, 10.0 * readers / 1_000_000);
        var met = true;
        var times = new Dictionary<DatabaseProvider, double>();
        foreach (var provider in providers)
        {
            var database = BenchDatabase.Create(provider, Path.Combine(Bench.Temp("s5"), "data"));
            var (html, text) = SendSeed.Body(2048);
            var seeding = Stopwatch.StartNew();
            var issueId = await SendSeed.CreateAsync(database, readers, html, text);
            Console.WriteLine($"S5: snapshot of {readers:N0} active readers into the delivery ledger ({database.Where}; seeded in {seeding.Elapsed.TotalSeconds:F1} s)");
            await using var db = database.Open();
            db.Database.SetCommandTimeout(TimeSpan.FromMinutes(10));
            var issue = await db.Issues.AsNoTracking().SingleAsync(i => i.Id == issueId);
            LedgerSql sql = provider == DatabaseProvider.PostgreSql ? new PostgresLedgerSql() : new SqliteLedgerSql();
            var ledger = new Ledger(db, sql, database.Hashes(), Options.Create(new SendingOptions()), Options.Create(new Newsletter.Web.Site.SiteOptions()), TimeProvider.System);

            var cpuBefore = DatabaseCpuSeconds(provider);
            var watch = Stopwatch.StartNew();
            var count = await ledger.SnapshotAsync(issue, CancellationToken.None);
            var first = watch.Elapsed.TotalSeconds;
            var cpu = DatabaseCpuSeconds(provider) - cpuBefore;
            watch.Restart();
            var again = await ledger.SnapshotAsync(issue, CancellationToken.None);
            var second = watch.Elapsed.TotalSeconds;

            Console.WriteLine($"  {database.Name}: snapshot {count:N0} rows in {first:F2} s ({count / first:N0} rows/s), {cpu:F2} s of the database's CPU; "
                + $"re-run (after a crash) added {again - count:N0} rows in {second:F2} s; load average {Bench.LoadAverage}");
            met &= Goal($"  {database.Name} snapshot {first:F2} s", first <= goal && count == readers && again == count, $"<= {goal:F0} s, idempotent");
            times[provider] = first;
        }

        if (times.Count == 2)
        {
            Console.WriteLine($"ratio PostgreSQL/SQLite snapshot time: {times[DatabaseProvider.PostgreSql] / times[DatabaseProvider.Sqlite]:F2} (below 1 is PostgreSQL faster)");
        }

        Console.WriteLine("(the database's CPU: the PostgreSQL cluster's processes, or on SQLite this process, which runs SQLite in itself;");
        Console.WriteLine(" a statement runs on one core, so on an idle machine its time is about its CPU, and on a busy one the CPU is what to compare.)");
        Console.WriteLine(met ? "goals met." : "goals NOT met.");
        return met ? 0 : 1;
    }

    /// <summary>CPU seconds so far of whatever runs the SQL: the PostgreSQL cluster, or this process for SQLite (in-process).</summary>
    private static double DatabaseCpuSeconds(DatabaseProvider provider) =>
        provider == DatabaseProvider.PostgreSql ? BenchDatabase.ClusterCpuSeconds() ?? 0 : Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

    private static async Task<int> S6Async(int small, int large, int connections)
    {
        var (html, text) = SendSeed.Body(HtmlBytes);
        using var sink = await SmtpSink.StartAsync();
        Console.WriteLine($"S6: the app's peak RSS (VmHWM, reset once the app is up) sending one ~20 KB issue to {small:N0} and to {large:N0} readers into smtp-sink");
        var a = await AppSendAsync(sink, small, connections, html, text, dkim: false, afterStartUp: true);
        Console.WriteLine($"  {small,10:N0} readers: {a.Seconds,7:F1} s, peak RSS {a.PeakRss / 1048576.0,6:F1} MB");
        var b = await AppSendAsync(sink, large, connections, html, text, dkim: false, afterStartUp: true);
        Console.WriteLine($"  {large,10:N0} readers: {b.Seconds,7:F1} s, peak RSS {b.PeakRss / 1048576.0,6:F1} MB");
        var growth = (double)b.PeakRss / a.PeakRss - 1;
        var met = Goal($"peak RSS {Math.Max(a.PeakRss, b.PeakRss) / 1048576.0:F1} MB", Math.Max(a.PeakRss, b.PeakRss) <= 120L * 1048576, "<= 120 MB (issue 15)");
        met &= Goal($"growth from {small:N0} to {large:N0} readers {growth:P1}", growth <= 0.10, "<= 10%");
        Console.WriteLine(met ? "goals met." : "goals NOT met.");
        return met ? 0 : 1;
    }

    private sealed record AppRun(double Seconds, double SlowestConnection, long PeakRss, double PreparingSeconds, TimeSpan Cpu)
    {
        public double PerSecond(int readers) => readers / Seconds;

        /// <summary>During the send: CPU seconds of the database cluster and the sink, and the machine's busy fraction of all cores.</summary>
        public (double Database, double Sink, double MachineBusy) Around { get; init; }
    }

    /// <summary>
    /// Seeds a database, starts <paramref name="nodes"/> app processes on it, marks the issue due and waits until
    /// the issue says Sent. Two nodes share everything the operator would share: the database, the job store,
    /// and on SQLite the data folder.
    /// </summary>
    /// <param name="afterStartUp">
    /// Start the send only once every node is up, with the RSS high-water mark reset, so the peak is the send's
    /// own and not start-up's (migrations, the EF model, the first pages), and no node starts sending alone.
    /// Otherwise the issue is due before the app starts and its start-up reconcile begins the send, as after a restart.
    /// </param>
    private static async Task<AppRun> AppSendAsync(SmtpSink sink, int readers, int connections, string html, string text, bool dkim,
        bool afterStartUp = false, DatabaseProvider provider = DatabaseProvider.Sqlite, int nodes = 1)
    {
        var dir = Bench.Temp("send");
        var database = BenchDatabase.Create(provider, Path.Combine(dir, "data"));
        var issueId = await SendSeed.CreateAsync(database, readers, html, text);
        var settings = database.AppSettings();
        foreach (var (k, v) in new Dictionary<string, string>
        {
            ["Mail__Transport"] = "Smtp",
            ["Mail__FromAddress"] = "notes@field-notes.example",
            ["Mail__Smtp__Host"] = "127.0.0.1",
            ["Mail__Smtp__Port"] = sink.Port.ToString(CultureInfo.InvariantCulture),
            ["Mail__Smtp__Security"] = "None",
            ["Mail__Smtp__PoolSize"] = connections.ToString(CultureInfo.InvariantCulture),
            ["Sending__Concurrency"] = connections.ToString(CultureInfo.InvariantCulture),
            ["Jobs__WorkerCount"] = (connections + 2).ToString(CultureInfo.InvariantCulture),
        })
        {
            settings[k] = v;
        }

        if (dkim)
        {
            var key = Path.Combine(dir, "dkim.pem");
            using (var rsa = RSA.Create(2048))
            {
                await File.WriteAllTextAsync(key, rsa.ExportPkcs8PrivateKeyPem());
            }

            settings["Mail__Dkim__Enabled"] = "true";
            settings["Mail__Dkim__Domain"] = "field-notes.example";
            settings["Mail__Dkim__Selector"] = "bench";
            settings["Mail__Dkim__PrivateKeyPath"] = key;
        }

        foreach (var (k, v) in AppEnvironment)
        {
            settings[k] = v;
        }

        if (afterStartUp)
        {
            settings["Sending__ReconcileInterval"] = "00:00:02";
        }
        else
        {
            await SendSeed.SendNowAsync(database, issueId);
        }

        var apps = new List<BenchApp>();
        try
        {
            for (var n = 0; n < nodes; n++)
            {
                apps.Add(await BenchApp.StartAsync(database.DataFolder, settings));
            }

            var cpuBefore = apps.Select(a => a.CpuTime).ToList();
            var databaseBefore = BenchDatabase.ClusterCpuSeconds() ?? 0;
            var sinkBefore = sink.CpuSeconds;
            var machineBefore = MachineCpu();
            if (afterStartUp)
            {
                await Task.Delay(3000);
                apps.ForEach(a => a.ResetPeakRss());
                await SendSeed.SendNowAsync(database, issueId);
            }

            await using var db = database.Open();
            var deadline = DateTime.UtcNow.AddMinutes(30);
            Issue issue;
            while ((issue = await db.Issues.AsNoTracking().SingleAsync(i => i.Id == issueId)).Status != IssueStatus.Sent)
            {
                if (apps.Any(a => a.HasExited) || DateTime.UtcNow > deadline)
                {
                    throw new InvalidOperationException($"The send did not finish: issue is {issue.Status} ({issue.PausedReason}).\n{string.Join("\n", apps.Select(a => a.Log))}");
                }

                await Task.Delay(200);
            }

            var machineAfter = MachineCpu();
            var around = ((BenchDatabase.ClusterCpuSeconds() ?? 0) - databaseBefore, sink.CpuSeconds - sinkBefore,
                (machineAfter.Busy - machineBefore.Busy) / (machineAfter.Total - machineBefore.Total));
            var peak = apps.Max(a => a.PeakRssBytes);
            var cpu = apps.Select((a, i) => a.CpuTime - cpuBefore[i]).Aggregate(TimeSpan.Zero, (x, y) => x + y);
            foreach (var app in apps)
            {
                var threads = app.CpuByThread().OrderByDescending(t => t.Value).Take(6).Select(t => $"{t.Key} {t.Value:F1} s");
                Console.WriteLine($"  app {app.Pid} CPU by thread since start: {string.Join(", ", threads)}");
            }

            var sent = await db.Deliveries.CountAsync(d => d.IssueId == issueId && d.Status == DeliveryStatus.Sent);
            if (sent != readers)
            {
                throw new InvalidOperationException($"{sent:N0} of {readers:N0} deliveries are Sent.\n{string.Join("\n", apps.Select(a => a.Log))}");
            }

            var started = new DateTimeOffset(DateTime.SpecifyKind(issue.StartedAt!.Value, DateTimeKind.Utc)).ToUnixTimeMilliseconds();
            var first = await db.Deliveries.Where(d => d.IssueId == issueId).MinAsync(d => d.SentAtMs!.Value);
            var last = await db.Deliveries.Where(d => d.IssueId == issueId).MaxAsync(d => d.SentAtMs!.Value);

            // Each worker holds one SMTP connection and logs its count and time when it stops.
            string Logs() => string.Join("\n", apps.Select(a => a.Log));
            for (var i = 0; i < 50 && WorkerRates(Logs()).Count < connections * nodes; i++)
            {
                await Task.Delay(100);
            }

            var rates = WorkerRates(Logs());
            foreach (var line in Logs().Split('\n').Where(l => l.Contains("stopped:", StringComparison.Ordinal) && !l.Contains("stopped: 0 sent", StringComparison.Ordinal)))
            {
                Console.WriteLine("  app: " + line.Trim());
            }

            return new AppRun((last - started) / 1000.0, rates.Count == 0 ? 0 : rates.Min(), peak, (first - started) / 1000.0, cpu) { Around = around };
        }
        finally
        {
            apps.ForEach(a => a.Dispose());
        }
    }

    /// <summary>The machine's busy and total CPU ticks since boot, all cores (the first line of /proc/stat).</summary>
    private static (double Busy, double Total) MachineCpu()
    {
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8)
            .Select(f => double.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        var total = fields.Sum();
        // idle and iowait are the only ticks nobody worked.
        return (total - fields[3] - fields[4], total);
    }

    private static List<double> WorkerRates(string log) =>
        [.. WorkerLine().Matches(log)
            .Select(m => (Sent: int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), Seconds: double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)))
            .Where(w => w.Sent >= 1000)
            .Select(w => w.Sent / w.Seconds)];

    [GeneratedRegex(@"stopped: (\d+) sent in \d+ batches over ([\d.]+) s")]
    private static partial Regex WorkerLine();

    private static async Task<(double Seconds, double SlowestConnection, TimeSpan Cpu)> BareMailKitAsync(int port, int total, int connections, List<MimeMessage> messages)
    {
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        var rates = await Task.WhenAll(Enumerable.Range(0, connections).Select(async c =>
        {
            var share = total / connections + (c < total % connections ? 1 : 0);
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(IPAddress.Loopback, port);
            using var client = new SmtpClient();
            await client.ConnectAsync(socket, "127.0.0.1", port, SecureSocketOptions.None);
            var sender = new MailboxAddress("", "bounce@field-notes.example");
            var own = Stopwatch.StartNew();
            for (var i = 0; i < share; i++)
            {
                var m = messages[(i * connections + c) % messages.Count];
                await client.SendAsync(m, sender, m.To.Mailboxes);
            }

            var rate = share / own.Elapsed.TotalSeconds;
            await client.DisconnectAsync(true);
            return rate;
        }));
        return (watch.Elapsed.TotalSeconds, rates.Min(), Process.GetCurrentProcess().TotalProcessorTime - cpuBefore);
    }

    /// <summary>The same loop with MailKit's synchronous API, one thread per connection: no continuations, no thread-pool hops.</summary>
    private static (double Seconds, double SlowestConnection, TimeSpan Cpu) BareMailKitSync(int port, int total, int connections, List<MimeMessage> messages)
    {
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        var rates = new double[connections];
        var threads = Enumerable.Range(0, connections).Select(c => new Thread(() =>
        {
            var share = total / connections + (c < total % connections ? 1 : 0);
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            socket.Connect(IPAddress.Loopback, port);
            using var client = new SmtpClient();
            client.Connect(socket, "127.0.0.1", port, SecureSocketOptions.None);
            var sender = new MailboxAddress("", "bounce@field-notes.example");
            var own = Stopwatch.StartNew();
            for (var i = 0; i < share; i++)
            {
                var m = messages[(i * connections + c) % messages.Count];
                client.Send(m, sender, m.To.Mailboxes);
            }

            rates[c] = share / own.Elapsed.TotalSeconds;
            client.Disconnect(true);
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        return (watch.Elapsed.TotalSeconds, rates.Min(), Process.GetCurrentProcess().TotalProcessorTime - cpuBefore);
    }

    private static async Task<double> SmtpSourceAsync(int port, int total, int connections, long messageBytes)
    {
        // -d keeps each session open for its next message, as a pooled client does.
        var info = new ProcessStartInfo(SmtpSink.SourcePath,
            ["-d", "-s", connections.ToString(CultureInfo.InvariantCulture), "-m", total.ToString(CultureInfo.InvariantCulture),
             "-l", messageBytes.ToString(CultureInfo.InvariantCulture), "-f", "bounce@field-notes.example", "-t", "reader@example.org", $"127.0.0.1:{port}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var watch = Stopwatch.StartNew();
        using var p = Process.Start(info)!;
        var stderr = p.StandardError.ReadToEndAsync();
        await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"smtp-source failed ({p.ExitCode}): {await stderr}");
        }

        return watch.Elapsed.TotalSeconds;
    }

    private static void Row(string name, double seconds, int messages, double? slowest, TimeSpan? cpu) =>
        Console.WriteLine($"{name,-46} {seconds,8:F2} {messages / seconds,8:N0} {(slowest is { } s ? s.ToString("N0", CultureInfo.InvariantCulture) : "-"),19} {(cpu is { } c ? (c.TotalMilliseconds * 1000 / messages).ToString("F0", CultureInfo.InvariantCulture) : "-"),11}");

    private static bool Goal(string what, bool met, string goal)
    {
        Console.WriteLine($"{what} (goal {goal}) -> {(met ? "met" : "NOT MET")}");
        return met;
    }
}

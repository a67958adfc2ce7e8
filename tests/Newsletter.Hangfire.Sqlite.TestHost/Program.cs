using System.Globalization;
using Hangfire;
using Hangfire.Logging;
using Hangfire.Storage;
using Newsletter.Hangfire.Sqlite;
using Newsletter.Hangfire.Sqlite.TestHost;

// dotnet Newsletter.Hangfire.Sqlite.TestHost.dll MODE --db FILE [--name value ...]
//   server          runs a BackgroundJobServer until "stop" arrives on stdin (or the process is killed)
//   fetch           drains the queue with --threads threads, writing each fetched job id to --out
//   lock-hold       takes --resource, says "acquired", holds it --hold-ms, releases it
//   lock-increment  --n times: takes --resource, adds one to the number in --file, releases
var mode = args[0];
var options = new Dictionary<string, string>(StringComparer.Ordinal);
for (var i = 1; i + 1 < args.Length; i += 2)
{
    options[args[i].TrimStart('-')] = args[i + 1];
}

string Option(string name, string? fallback = null) =>
    options.TryGetValue(name, out var value) ? value : fallback ?? throw new ArgumentException($"--{name} is required");

TimeSpan Seconds(string name, double fallback) => TimeSpan.FromSeconds(double.Parse(Option(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture));

GlobalConfiguration.Configuration.UseLogProvider(new ConsoleLogProvider(LogLevel.Info));
using var storage = new SqliteStorage(new SqliteStorageOptions
{
    Path = Option("db"),
    QueuePollInterval = Seconds("poll", 0.2),
    InvisibilityTimeout = Seconds("invisibility", 300),
    DistributedLockLifetime = Seconds("lock-lifetime", 30),
    JobExpirationCheckInterval = Seconds("expiration", 300),
});

switch (mode)
{
    case "server":
    {
        var server = new BackgroundJobServer(
            new BackgroundJobServerOptions
            {
                ServerName = Option("name", "testhost"),
                WorkerCount = int.Parse(Option("workers", "10"), CultureInfo.InvariantCulture),
                Queues = Option("queues", "default").Split(','),
                SchedulePollingInterval = TimeSpan.FromSeconds(1),
                ShutdownTimeout = TimeSpan.FromSeconds(30),
            },
            storage);
        Console.Out.WriteLine("ready");
        Console.Out.Flush();
        while (Console.In.ReadLine() is { } line && line != "stop")
        {
        }

        server.SendStop();
        server.Dispose();
        Console.Out.WriteLine("stopped");
        return 0;
    }

    case "fetch":
    {
        var threads = int.Parse(Option("threads"), CultureInfo.InvariantCulture);
        var output = Option("out");
        var fetched = new System.Collections.Concurrent.ConcurrentBag<string>();
        Console.Out.WriteLine("ready");
        Console.Out.Flush();
        Console.In.ReadLine(); // "go": both processes start draining together
        var workers = Enumerable.Range(0, threads).Select(_ => new Thread(() =>
        {
            using var connection = storage.GetConnection();
            while (true)
            {
                // An empty queue for a whole second means drained: the test enqueues everything before it says "go".
                using var idle = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                IFetchedJob job;
                try
                {
                    job = connection.FetchNextJob(["default"], idle.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                fetched.Add(job.JobId);
                job.RemoveFromQueue();
                job.Dispose();
            }
        })).ToList();
        workers.ForEach(t => t.Start());
        workers.ForEach(t => t.Join());
        File.WriteAllLines(output, fetched);
        Console.Out.WriteLine($"fetched {fetched.Count}");
        return 0;
    }

    case "lock-hold":
    {
        using var connection = storage.GetConnection();
        using (connection.AcquireDistributedLock(Option("resource"), Seconds("timeout", 60)))
        {
            Console.Out.WriteLine("acquired");
            Console.Out.Flush();
            Thread.Sleep(int.Parse(Option("hold-ms"), CultureInfo.InvariantCulture));
        }

        Console.Out.WriteLine("released");
        return 0;
    }

    case "lock-increment":
    {
        var file = Option("file");
        var n = int.Parse(Option("n"), CultureInfo.InvariantCulture);
        Console.Out.WriteLine("ready");
        Console.Out.Flush();
        Console.In.ReadLine();
        using var connection = storage.GetConnection();
        for (var i = 0; i < n; i++)
        {
            using (connection.AcquireDistributedLock(Option("resource"), TimeSpan.FromSeconds(60)))
            {
                // A read-modify-write that loses updates unless the lock excludes every other process and thread.
                var value = File.Exists(file) ? int.Parse(File.ReadAllText(file), CultureInfo.InvariantCulture) : 0;
                Thread.Yield();
                File.WriteAllText(file, (value + 1).ToString(CultureInfo.InvariantCulture));
            }
        }

        Console.Out.WriteLine("done");
        return 0;
    }

    default:
        Console.Error.WriteLine($"Unknown mode '{mode}'.");
        return 2;
}

using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Hangfire;
using Hangfire.InMemory;
using Newsletter.Hangfire.Sqlite;

namespace Newsletter.Benchmarks.Jobs;

/// <summary>
/// No-op Hangfire jobs, enqueued by four client threads while the servers already run, timed from the first enqueue to the
/// last Succeeded state: jobs/s with one server and with two (ten workers each), on our SQLite storage and, side by side,
/// on Hangfire.InMemory, the fastest storage Hangfire has and so the ceiling. Two SQLite servers each get their own storage
/// instance on the one file, as two processes on one host would. Then the floor (<see cref="JobsFloor"/>): the same rows in
/// the same four commits, written by one bare loop.
/// </summary>
public static class JobsBenchmark
{
    private const int Workers = 10;

    public static Task<int> RunAsync(string[] args)
    {
        var jobs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 5000;
        var dir = Bench.Temp("jobs");
        Console.WriteLine($"{jobs:N0} no-op jobs per run, {Workers} workers per server, {Environment.ProcessorCount} cores, load average {Bench.LoadAverage}; SQLite files in {dir}");

        // Warm-up: JIT and connection pools, so the first measured run is not charged for them.
        Measure(() => [new InMemoryStorage()], 200);
        Measure(() => SqliteStorages(Path.Combine(dir, "warmup.db"), 1), 200);

        var results = new List<(string Storage, int Servers, JobsRun Run, string Writes)>();
        using var writes = new WriteCounter();
        foreach (var servers in new[] { 1, 2 })
        {
            var inMemory = new InMemoryStorage();
            results.Add(("Hangfire.InMemory", servers, Measure(() => Enumerable.Repeat<JobStorage>(inMemory, servers).ToList(), jobs), ""));
            var file = Path.Combine(dir, $"jobs-{servers}.db");
            writes.Reset();
            var run = Measure(() => SqliteStorages(file, servers), jobs);
            results.Add(("SQLite (ours)", servers, run, writes.PerJob(jobs)));
        }

        // The floor: the rows of a job the one-server run wrote, replayed in the same four commits with nothing else.
        var floor = JobsFloor.Run(Path.Combine(dir, "jobs-1.db"), Path.Combine(dir, "floor.db"), jobs);
        // Its statements, counted as ours are (without BEGIN and COMMIT): 5 when created, 1 to claim, 2 and 4 for the states.
        results.Add(("bare writes (floor)", 1, new JobsRun(floor.Rate, floor.CpuUs, null), string.Create(CultureInfo.InvariantCulture, $"4.00 (12.00), {floor.Pages:F1} pages")));

        // Per job, the client's enqueue included; everything the storages in this process wrote while the run lasted.
        Console.WriteLine();
        // CPU per job is the process's CPU time over the run (client, servers and the polling monitor): on a machine shared
        // with other work it moves far less than jobs/s, which depends on how much of the cores this process gets.
        // "enqueuing": the share of the run the four client threads took to enqueue every job, and the share of the jobs
        // already Succeeded when they finished. Near 100 % and 100 %, the servers kept up and the run measured the client.
        Console.WriteLine($"{"storage",-20}{"servers",8}{"jobs/s",12}{"CPU µs/job",12}{"enqueuing",18}   write transactions (statements), pages per job");
        foreach (var (storage, servers, run, perJob) in results)
        {
            var enqueuing = run.Client is var (share, done) ? string.Create(CultureInfo.InvariantCulture, $"{share:P0}, {done:P0} done") : "";
            Console.WriteLine($"{storage,-20}{servers,8}{run.Rate,12:N0}{run.CpuUs,12:N0}{enqueuing,18}   {perJob}");
        }

        foreach (var servers in new[] { 1, 2 })
        {
            var ours = results.Single(r => r.Servers == servers && r.Storage.StartsWith("SQLite", StringComparison.Ordinal)).Run;
            var reference = results.Single(r => r.Servers == servers && r.Storage.StartsWith("Hangfire", StringComparison.Ordinal)).Run;
            Console.WriteLine($"ratio SQLite / InMemory, {servers} server{(servers == 1 ? "" : "s")}: {ours.Rate / reference.Rate:F2} (jobs/s), {reference.CpuUs / ours.CpuUs:F2} (CPU per job, InMemory's / ours)");
        }

        // Hangfire's own work per job is what Hangfire.InMemory spends; the floor is what the file takes for the rows. A
        // storage can at best overlap the two on the two cores, never take the writes below the floor.
        var inMemoryOne = results.Single(r => r.Servers == 1 && r.Storage.StartsWith("Hangfire", StringComparison.Ordinal)).Run;
        var oursOne = results.Single(r => r.Servers == 1 && r.Storage.StartsWith("SQLite", StringComparison.Ordinal)).Run;
        Console.WriteLine($"floor: {floor.Rate:N0} jobs/s at {floor.CpuUs:N0} µs per job = {floor.Rate / inMemoryOne.Rate:F2} of InMemory's jobs/s (1 server); ours is {oursOne.Rate / floor.Rate:F2} of the floor's jobs/s, {floor.CpuUs / oursOne.CpuUs:F2} of its CPU per job");
        Console.WriteLine($"load average at the end: {Bench.LoadAverage}");

        return Task.FromResult(0);
    }

    private static List<JobStorage> SqliteStorages(string file, int count) =>
        [.. Enumerable.Range(0, count).Select(_ => (JobStorage)new SqliteStorage(new SqliteStorageOptions { Path = file, QueuePollInterval = TimeSpan.FromMilliseconds(200) }))];

    private static JobsRun Measure(Func<List<JobStorage>> storages, int jobs)
    {
        var stores = storages();
        var servers = stores.Select((s, i) => new BackgroundJobServer(new BackgroundJobServerOptions { WorkerCount = Workers, ServerName = $"bench-{i}" }, s)).ToList();
        try
        {
            var client = new BackgroundJobClient(stores[0]);
            var monitor = stores[0].GetMonitoringApi();
            var start = monitor.SucceededListCount();
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var watch = Stopwatch.StartNew();
            Parallel.For(0, jobs, new ParallelOptions { MaxDegreeOfParallelism = 4 }, _ => client.Enqueue(() => BenchJobs.Noop()));
            var enqueued = watch.Elapsed;
            var doneByThen = monitor.SucceededListCount() - start;
            while (monitor.SucceededListCount() - start < jobs)
            {
                Thread.Sleep(20);
            }

            watch.Stop();
            var used = Process.GetCurrentProcess().TotalProcessorTime - cpu;
            return new JobsRun(jobs / watch.Elapsed.TotalSeconds, used.TotalMicroseconds / jobs, (enqueued / watch.Elapsed, (double)doneByThen / jobs));
        }
        finally
        {
            foreach (var server in servers)
            {
                server.SendStop();
            }

            foreach (var server in servers)
            {
                server.Dispose();
            }

            foreach (var store in stores.Distinct())
            {
                (store as IDisposable)?.Dispose();
            }
        }
    }
}

/// <summary>
/// One timed run: jobs/s, the process's CPU per job and, where a client enqueued the jobs (not for the floor), the share of
/// the run's time it took to enqueue them all and the share of the jobs that had succeeded by then.
/// </summary>
internal readonly record struct JobsRun(double Rate, double CpuUs, (double EnqueueShare, double DoneByThen)? Client);

/// <summary>Sums the storage's write counters (<see cref="SqliteStorageMetrics"/>): transactions, statements and pages, while a run lasts.</summary>
internal sealed class WriteCounter : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _transactions;
    private long _statements;
    private long _pages;

    public WriteCounter()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == SqliteStorageMetrics.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            if (instrument.Name.EndsWith("transactions", StringComparison.Ordinal))
            {
                Interlocked.Add(ref _transactions, value);
            }
            else if (instrument.Name.EndsWith("pages_written", StringComparison.Ordinal))
            {
                Interlocked.Add(ref _pages, value);
            }
            else
            {
                Interlocked.Add(ref _statements, value);
            }
        });
        _listener.Start();
    }

    public void Reset()
    {
        Interlocked.Exchange(ref _transactions, 0);
        Interlocked.Exchange(ref _statements, 0);
        Interlocked.Exchange(ref _pages, 0);
    }

    public string PerJob(int jobs) =>
        string.Create(CultureInfo.InvariantCulture, $"{(double)Interlocked.Read(ref _transactions) / jobs:F2} ({(double)Interlocked.Read(ref _statements) / jobs:F2}), {(double)Interlocked.Read(ref _pages) / jobs:F1} pages");

    public void Dispose() => _listener.Dispose();
}

/// <summary>The job the benchmark runs: nothing, so only the storage and Hangfire's own pipeline are measured.</summary>
public static class BenchJobs
{
    public static void Noop()
    {
    }
}

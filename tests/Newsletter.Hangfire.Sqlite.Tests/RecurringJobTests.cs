using Hangfire;
using Newsletter.Hangfire.Sqlite.TestHost;

namespace Newsletter.Hangfire.Sqlite.Tests;

/// <summary>
/// The recurring scheduler runs on every server and takes a distributed lock per pass: with two processes on one file,
/// each minute still gives exactly one job, through a crash and restart of both. This test needs real minutes, so it has
/// its own collection and runs beside the others.
/// </summary>
public sealed class RecurringJobTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task APerMinuteCronOnTwoServersGivesOneJobPerOccurrenceThroughARestart()
    {
        var ledger = _folder.File("ledger");
        using var storage = _folder.OpenStorage();
        string[] server = ["--workers", "2", "--invisibility", "20", "--lock-lifetime", "5"];
        var first = HostProcess.Start("server", _folder.Db, [.. server, "--name", "first"]);
        var second = HostProcess.Start("server", _folder.Db, [.. server, "--name", "second"]);
        try
        {
            await first.WaitForLineAsync("ready", TimeSpan.FromSeconds(60));
            await second.WaitForLineAsync("ready", TimeSpan.FromSeconds(60));

            // Strict: a missed occurrence gets its own job, stamped with the occurrence's time, so a miss shows as a gap.
            new RecurringJobManager(storage).AddOrUpdate(
                "every-minute",
                () => TestJobs.RecordOccurrence(ledger, "minute", null),
                "* * * * *",
                new RecurringJobOptions { MisfireHandling = MisfireHandlingMode.Strict });

            await Eventually.TrueAsync(() => Occurrences(ledger).Count >= 2, TimeSpan.FromMinutes(3), () => Describe(ledger, first, second));
            var beforeRestart = Occurrences(ledger).Max();

            // Both go down across a minute boundary: one killed, one stopped.
            first.Kill();
            await second.StopAsync(TimeSpan.FromSeconds(60));
            var boundary = DateTimeOffset.FromUnixTimeSeconds(beforeRestart + 60);
            while (DateTimeOffset.UtcNow < boundary.AddSeconds(2))
            {
                await Task.Delay(500, TestContext.Current.CancellationToken);
            }

            Assert.DoesNotContain(beforeRestart + 60, Occurrences(ledger));
            first.Dispose();
            second.Dispose();
            first = HostProcess.Start("server", _folder.Db, [.. server, "--name", "first-again"]);
            second = HostProcess.Start("server", _folder.Db, [.. server, "--name", "second-again"]);
            await first.WaitForLineAsync("ready", TimeSpan.FromSeconds(60));
            await second.WaitForLineAsync("ready", TimeSpan.FromSeconds(60));

            // The occurrence missed while down, then one more on time.
            await Eventually.TrueAsync(() => Occurrences(ledger).Contains(beforeRestart + 120), TimeSpan.FromMinutes(3), () => Describe(ledger, first, second));
            await first.StopAsync(TimeSpan.FromSeconds(60));
            await second.StopAsync(TimeSpan.FromSeconds(60));

            var times = Occurrences(ledger);
            var twice = times.GroupBy(t => t).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
            Assert.True(twice.Count == 0, $"occurrences run twice: {string.Join(", ", twice)}");
            Assert.All(times, t => Assert.Equal(0, t % 60));
            var expected = Enumerable.Range(0, (int)((times.Max() - times.Min()) / 60) + 1).Select(i => times.Min() + (i * 60L)).ToList();
            Assert.Equal(expected, times.Order().ToList());
            Assert.True(times.Count >= 4, Describe(ledger, first, second));
            Assert.Equal(times.Count, Db.Scalar(_folder.Db, "SELECT COUNT(*) FROM job_parameter WHERE name = 'RecurringJobId'"));
            Assert.DoesNotContain("database is locked", first.Output + second.Output, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            first.Dispose();
            second.Dispose();
        }
    }

    private static List<long> Occurrences(string ledger) =>
        [.. Ledger.Read(ledger).Where(l => l.Event == "occurrence").Select(l => long.Parse(l.Detail, System.Globalization.CultureInfo.InvariantCulture))];

    private static string Describe(string ledger, HostProcess first, HostProcess second) =>
        $"occurrences {string.Join(", ", Occurrences(ledger))}\n{first.Output}\n{second.Output}";
}

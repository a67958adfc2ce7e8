using Newsletter.Testing;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Issues;

namespace Newsletter.Tests.Sending;

/// <summary>
/// Several nodes on one PostgreSQL, as an operator runs them: two app processes share the database, the job
/// store and the rate limit, and are killed with SIGKILL in the middle of a send and started again.
/// </summary>
public class PostgresNodesTests
{
    [Fact]
    public async Task TwoNodesKilledTwiceDuringASendStillReachEveryReaderAndReportEveryPossibleDuplicate()
    {
        const int readers = 20_000;
        await using var smtp = await SmtpServer.StartAsync();
        var data = await SendingProcess.CreateAsync(readers, provider: DatabaseProvider.PostgreSql);
        var environment = data.Environment(smtp);
        // Long enough for two kills and two restarts to land while the send runs.
        environment["Sending__MaxPerSecond"] = "700";
        // On a busy machine, as the SQLite crash tests run: a stalled worker or heartbeat must cost no extra copy.
        using var burner = new CpuBurner(perCore: 1);
        var one = new AppProcess(environment, sampleNotes: false, root: data.Root);
        var two = new AppProcess(environment, sampleNotes: false, root: data.Root);
        var kills = new List<int>();
        try
        {
            await Task.WhenAll(one.StartAsync(TimeSpan.FromMinutes(2)), two.StartAsync(TimeSpan.FromMinutes(2)));

            await SendingProcess.WaitForMessagesAsync(smtp, 4_000, one, two);
            one.KillHard();
            kills.Add(smtp.Count);
            await one.DisposeAsync();
            one = new AppProcess(environment, sampleNotes: false, root: data.Root);
            await one.StartAsync(TimeSpan.FromMinutes(2));

            await SendingProcess.WaitForMessagesAsync(smtp, 11_000, one, two);
            two.KillHard();
            kills.Add(smtp.Count);
            await two.DisposeAsync();
            two = new AppProcess(environment, sampleNotes: false, root: data.Root);
            await two.StartAsync(TimeSpan.FromMinutes(2));

            var issue = await data.WaitUntilSentAsync(TimeSpan.FromMinutes(4), one, two);
            Assert.Equal(readers, issue.RecipientCount);
        }
        finally
        {
            await one.DisposeAsync();
            await two.DisposeAsync();
        }

        Assert.All(kills, k => Assert.True(k < readers, $"a kill came after the send had finished ({k} messages)"));
        var copies = SendingProcess.CopiesByRecipient(smtp);
        var addresses = await data.AddressesAsync();
        var ledger = await data.DeliveriesAsync();
        Assert.Equal(readers, ledger.Count);

        // Nobody lost, nobody with three copies.
        Assert.DoesNotContain(addresses.Values, a => !copies.ContainsKey(a));
        Assert.All(copies, c => Assert.True(c.Value <= 2, $"{c.Key} got {c.Value} copies"));

        // Only readers the ledger calls uncertain can have two copies, and no more of them than were in flight:
        // at most the message on the wire of each of the killed node's SMTP connections, per kill.
        var duplicated = copies.Where(c => c.Value > 1).Select(c => c.Key).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var uncertain = ledger.Where(d => d.Uncertain).Select(d => addresses[d.SubscriberId]).ToHashSet(StringComparer.OrdinalIgnoreCase);
        Assert.Subset(uncertain, duplicated);
        var bound = kills.Count * data.Concurrency;
        Assert.True(uncertain.Count <= bound, $"{uncertain.Count} deliveries are uncertain; the bound is {bound}");
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"PostgreSQL, two nodes: killed at {string.Join(" and ", kills)} accepted; {duplicated.Count} readers got two copies; {uncertain.Count} uncertain; bound {bound}");
    }
}

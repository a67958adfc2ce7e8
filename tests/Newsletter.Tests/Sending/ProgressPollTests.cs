using Newsletter.Web.Issues;
using Newsletter.Web.Sending;

namespace Newsletter.Tests.Sending;

/// <summary>
/// The progress page and the API tell a watcher when to ask again: a ledger of a million rows took about 0.45 s
/// to count, and a page asking every second took that from the send it watched.
/// </summary>
public class ProgressPollTests
{
    [Theory]
    [InlineData(2, 1_000)] // a small ledger: once a second, as before
    [InlineData(100, 1_000)]
    [InlineData(450, 4_500)] // a million rows: a tenth of the database's time for one watcher
    [InlineData(1_200, 12_000)]
    [InlineData(9_000, 15_000)] // never longer than 15 s between two looks
    public void AWatcherWaitsTenTimesWhatTheLastReadCostBetweenASecondAndFifteen(int costMs, int expected) =>
        Assert.Equal(expected, IssueProgress.PollAfterMs(TimeSpan.FromMilliseconds(costMs)));

    [Fact]
    public void ThereIsNoTimeLeftWhileTheRelayFailsOrTheSendIsNotSending()
    {
        // The page said "Rate 0 messages/s: the relay is not answering" next to "Time left 00:12:30", and a paused
        // send had a time left too: both from the last minute's messages, which no longer say anything.
        var counts = new DeliveryCounts(Pending: 600, Sending: 0, Sent: 400, Deferred: 0, Failed: 0, Skipped: 0, Uncertain: 0);
        Assert.Equal("00:10:00", IssueProgress.Eta(counts, IssueStatus.Sending, relayFailing: false, perSecond: 1));
        // A paused or cancelled send moves at 0 whatever its last minute did (the API said 39.4 messages/s after a pause).
        Assert.Equal((0, "0 messages/s: paused"), IssueProgress.RateOf(IssueStatus.Paused, relayFailing: false, lastMinute: 39.4));
        Assert.Equal((0, "0 messages/s: cancelled"), IssueProgress.RateOf(IssueStatus.Cancelled, relayFailing: false, lastMinute: 39.4));
        Assert.Equal((39.4, "39.4 messages/s"), IssueProgress.RateOf(IssueStatus.Sending, relayFailing: false, lastMinute: 39.4));
        Assert.Null(IssueProgress.Eta(counts, IssueStatus.Sending, relayFailing: true, perSecond: 1));
        Assert.Null(IssueProgress.Eta(counts, IssueStatus.Paused, relayFailing: false, perSecond: 1));
        Assert.Null(IssueProgress.Eta(counts, IssueStatus.Sending, relayFailing: false, perSecond: 0));
        Assert.Null(IssueProgress.Eta(counts with { Pending = 0, Skipped = 600 }, IssueStatus.Cancelled, relayFailing: false, perSecond: 1));
        Assert.Equal("done", IssueProgress.Eta(counts with { Pending = 0, Sent = 1_000 }, IssueStatus.Sent, relayFailing: false, perSecond: 1));
    }

    [Fact]
    public void TheRateAfterASilenceIsTheRateSinceMessagesMovedAgain()
    {
        var now = 1_800_000_000_000L;
        // 50 silent seconds (the relay came back, or the author resumed), then 100 messages in 10 s: 10 a second,
        // not 100 over the whole minute, which made the time left read as hours.
        Assert.Equal(10, IssueProgress.PerSecond(100, now - 10_000, now));
        Assert.Equal(10, IssueProgress.PerSecond(600, now - 60_000, now)); // a steady minute
        Assert.Equal(0, IssueProgress.PerSecond(0, null, now));
    }
}

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
}

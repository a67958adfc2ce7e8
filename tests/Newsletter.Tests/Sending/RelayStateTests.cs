using Microsoft.Extensions.Options;
using Newsletter.Testing;
using Newsletter.Web.Sending;

namespace Newsletter.Tests.Sending;

/// <summary>
/// The relay's health as a node's workers report it, with the moments set by hand: a worker thread may report an
/// answer seconds after it came (a stall on a loaded machine), and the order of reports must not hide a frozen relay.
/// </summary>
public class RelayStateTests
{
    private static readonly DateTimeOffset T0 = new(2030, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private static (SendNode Node, SteppedClock Clock) NewNode()
    {
        var clock = new SteppedClock(T0);
        return (new SendNode(Options.Create(new SendingOptions()), clock), clock);
    }

    [Fact]
    public void AnAnswerReportedLateClearsNothingWhenItsAttemptBeganBeforeTheFailureWasSeen()
    {
        var (node, clock) = NewNode();

        // Worker A starts at T0 and the relay freezes under it; worker B starts half a second later and has its
        // 250 just before the freeze. A times out two seconds on; B's thread stalled and reports after that.
        clock.Now = T0.AddSeconds(2);
        Assert.Equal(TimeSpan.FromSeconds(2), node.RelayFailed(T0, "timed out"));
        clock.Now = T0.AddSeconds(3);
        node.RelaySucceeded(T0.AddSeconds(0.5));

        Assert.Equal(T0, node.Relay.FailingSince);
        Assert.Equal("timed out", node.Relay.Error);
    }

    [Fact]
    public void AnAnswerToAnAttemptBegunBeforeTheFailingOneClearsNothing()
    {
        var (node, clock) = NewNode();
        clock.Now = T0.AddSeconds(2);
        node.RelayFailed(T0, "timed out");
        node.RelaySucceeded(T0.AddSeconds(-1));

        Assert.Equal(T0, node.Relay.FailingSince);
    }

    [Fact]
    public void AnAttemptBegunAfterTheLastFailureWasSeenClearsIt()
    {
        var (node, clock) = NewNode();
        clock.Now = T0.AddSeconds(2);
        node.RelayFailed(T0, "timed out");

        // Another attempt fails later; the failure stays dated from the first, and only an attempt that began
        // after the second was seen says the relay is back.
        clock.Now = T0.AddSeconds(5);
        Assert.Equal(TimeSpan.FromSeconds(5), node.RelayFailed(T0.AddSeconds(3), "connection refused"));
        Assert.Equal("connection refused", node.Relay.Error);
        node.RelaySucceeded(T0.AddSeconds(4));
        Assert.Equal(T0, node.Relay.FailingSince);

        clock.Now = T0.AddSeconds(6);
        node.RelaySucceeded(T0.AddSeconds(5.5));
        Assert.Null(node.Relay.FailingSince);
        Assert.Null(node.Relay.Error);

        // A new outage is dated from its own first failure.
        clock.Now = T0.AddSeconds(9);
        Assert.Equal(TimeSpan.FromSeconds(2), node.RelayFailed(T0.AddSeconds(7), "timed out"));
    }
}

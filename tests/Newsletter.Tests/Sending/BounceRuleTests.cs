using Newsletter.Mail;

namespace Newsletter.Tests.Sending;

/// <summary>One rule decides whether a failure drops a reader, whether it came in the SMTP session or in a report later.</summary>
public class BounceRuleTests
{
    [Theory]
    [InlineData(550, "5.1.1", true)]
    [InlineData(550, "5.1.0", true)]
    [InlineData(550, "5.1.2", true)]
    [InlineData(553, "5.1.3", true)]
    [InlineData(550, "5.1.4", true)]
    [InlineData(551, "5.1.6", true)]
    [InlineData(556, "5.1.10", true)]
    [InlineData(550, "5.2.1", true)]
    [InlineData(550, "5.1.7", false)]
    [InlineData(550, "5.1.8", false)]
    [InlineData(552, "5.2.2", false)]
    [InlineData(552, "5.2.3", false)]
    [InlineData(550, "5.4.1", false)]
    [InlineData(550, "5.4.4", false)]
    [InlineData(554, "5.4.7", false)]
    [InlineData(550, "5.7.1", false)]
    [InlineData(550, null, true)]
    [InlineData(551, null, true)]
    [InlineData(553, null, true)]
    [InlineData(554, null, false)]
    [InlineData(552, null, false)]
    public void TheSessionAndTheReportAgree(int reply, string? enhanced, bool hard)
    {
        Assert.Equal(hard, BounceRule.IsHard(reply, enhanced));
        // In the SMTP session: the reply as a server sends it.
        Assert.Equal(hard, SendResult.FromReply(reply, enhanced is null ? "mailbox says no" : $"{enhanced} mailbox says no").IsHardBounce);
    }

    [Theory]
    [InlineData(450, "4.2.2")]
    [InlineData(421, null)]
    public void ATemporaryFailureIsNeverHard(int reply, string? enhanced) =>
        Assert.False(SendResult.FromReply(reply, enhanced is null ? "later" : $"{enhanced} later").IsHardBounce);
}

namespace Newsletter.Mail.Tests;

public class SendResultTests
{
    [Theory]
    [InlineData(250, "2.0.0 Ok: queued as 1234", SendOutcome.Sent, "2.0.0")]
    [InlineData(421, "4.4.2 Connection dropped", SendOutcome.Deferred, "4.4.2")]
    [InlineData(450, "Mailbox busy", SendOutcome.Deferred, null)]
    [InlineData(451, "4.7.1 <a@b.org>: Greylisted, try again later", SendOutcome.Deferred, "4.7.1")]
    [InlineData(452, "4.2.2 Mailbox full", SendOutcome.Deferred, "4.2.2")]
    [InlineData(550, "5.1.1 <a@b.org>: Recipient address rejected: User unknown", SendOutcome.Failed, "5.1.1")]
    [InlineData(550, "Requested action not taken: mailbox unavailable (5.1.10)", SendOutcome.Failed, "5.1.10")]
    [InlineData(554, "5.7.1 Message rejected as spam", SendOutcome.Failed, "5.7.1")]
    [InlineData(550, "4.1.1 mismatched class is ignored", SendOutcome.Failed, null)]
    public void ClassifiesRepliesByCodeAndFindsTheEnhancedCode(int code, string reply, SendOutcome outcome, string? enhanced)
    {
        var result = SendResult.FromReply(code, reply);

        Assert.Equal(outcome, result.Outcome);
        Assert.Equal(code, result.StatusCode);
        Assert.Equal(enhanced, result.EnhancedStatusCode);
        Assert.Equal(reply, result.Reply);
    }

    [Theory]
    [InlineData(550, "5.1.1 User unknown", true)]
    [InlineData(550, "5.1.0 Address rejected", true)]
    [InlineData(550, "5.1.2 Host not found", true)]
    [InlineData(553, "5.1.3 Bad address syntax", true)]
    [InlineData(550, "5.1.6 Mailbox moved", true)]
    [InlineData(556, "5.1.10 Domain publishes a null MX", true)]
    [InlineData(550, "5.2.1 Mailbox disabled", true)]
    [InlineData(550, "User unknown", true)]
    [InlineData(551, "User not local", true)]
    [InlineData(553, "Mailbox name not allowed", true)]
    [InlineData(552, "5.2.2 Mailbox full", false)]
    [InlineData(552, "5.3.4 Message too big", false)]
    [InlineData(550, "5.7.1 Rejected by policy", false)]
    [InlineData(554, "5.7.26 Unauthenticated email is not accepted (DMARC)", false)]
    [InlineData(553, "5.1.7 Bad sender address syntax", false)]
    [InlineData(550, "5.1.8 Sender domain does not exist", false)]
    [InlineData(554, "Transaction failed", false)]
    [InlineData(451, "4.1.1 Try later", false)]
    public void TreatsOnlyDeadAddressesAsHardBounces(int code, string reply, bool hard)
    {
        Assert.Equal(hard, SendResult.FromReply(code, reply).IsHardBounce);
    }

    [Fact]
    public void ALostConnectionIsNeitherAFailureNorAHardBounce()
    {
        var result = SendResult.ConnectionLost("reset by peer");

        Assert.Equal(SendOutcome.ConnectionLost, result.Outcome);
        Assert.Null(result.StatusCode);
        Assert.False(result.IsHardBounce);
    }
}

using Hangfire;
using Newsletter.Mail;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Sending;

/// <summary>Sends an issue's test copies through the real transport, from a job, never inside the request.</summary>
public sealed class TestSendJob(IssueMessages messages, IMailTransport transport, ILogger<TestSendJob> logger)
{
    public const int MaxAddresses = 5;

    /// <summary>
    /// The addresses a test copy may go to: each one valid, one to <see cref="MaxAddresses"/> of them. The error
    /// names the address at fault, so the admin form and the API say the same thing.
    /// </summary>
    public static bool TryCheck(IEnumerable<string> given, out string[] addresses, out string error)
    {
        var valid = new List<string>();
        foreach (var a in given.Where(a => !string.IsNullOrWhiteSpace(a)))
        {
            if (!EmailAddress.TryNormalize(a, out var normalized, out var why))
            {
                (addresses, error) = ([], $"'{a}': {why}");
                return false;
            }

            valid.Add(normalized);
        }

        addresses = [.. valid.Distinct(EmailAddress.Comparer)];
        error = addresses.Length is 0 or > MaxAddresses ? $"Give 1 to {MaxAddresses} addresses." : "";
        return error.Length == 0;
    }

    [AutomaticRetry(Attempts = 2)]
    public async Task SendAsync(int issueId, string[] addresses, CancellationToken ct)
    {
        var prepared = await messages.PrepareAsync(issueId, ct);
        prepared = prepared with { Subject = "[Test] " + prepared.Subject };
        await using var session = await transport.OpenSessionAsync(ct);
        foreach (var address in addresses.Take(MaxAddresses))
        {
            // Reader 0 gets links that resolve to nobody: a test copy can't unsubscribe a real reader, and its
            // pages say it was a test. Each copy gets a Message-ID of its own, or Gmail hides the second test.
            var (message, from) = messages.Build(prepared, new Recipient(SubscriberTokens.TestReaderId, address, null, SubscriberStatus.Active, null), 0, MessageIds.ForTest(issueId, prepared.MessageDomain));
            var result = await session.SendAsync(message, from, ct);
            logger.LogInformation("Test copy of issue {Issue} to {Address}: {Outcome} {Code}", issueId, address, result.Outcome, result.StatusCode);
            if (result.Outcome != SendOutcome.Sent)
            {
                throw new Mail.MailNotSentException($"Test copy to {address} was not sent: {result.Outcome} {result.StatusCode} {result.Reply}");
            }
        }
    }
}

/// <summary>Why test copies were not queued: the issue does not render, or the author's hourly number is spent (<see cref="TooMany"/>).</summary>
public sealed record TestSendRefusal(bool TooMany, string Why);

/// <summary>
/// Asks for test copies, from the admin's preview or the API: once the issue has been seen to render (a broken
/// template was told "sent" while the job failed in the background) and within the author's hourly number, and
/// written in the audit log, since the copies go to addresses the author typed.
/// </summary>
public sealed class TestSends(IssueMessages messages, Infrastructure.SharedRateLimiter limiter, IBackgroundJobClient jobs, Audit.AuditLog audit)
{
    /// <summary>Test copies an author may have sent in an hour: a few rounds of five, not a way to mail strangers in bulk.</summary>
    public const int CopiesPerAuthorPerHour = 50;

    private static readonly Infrastructure.RateLimit CopiesPerAuthor = new("test-copies-author", CopiesPerAuthorPerHour, TimeSpan.FromHours(1));

    /// <summary>Null when queued, else why not.</summary>
    public async Task<TestSendRefusal?> QueueAsync(System.Security.Claims.ClaimsPrincipal user, int issueId, string[] addresses, CancellationToken ct)
    {
        try
        {
            await messages.PrepareAsync(issueId, ct);
        }
        catch (TemplateException e)
        {
            return new(false, $"Not sent: the email does not render. {e.Message}");
        }

        if (!await limiter.TryAcquireAsync(CopiesPerAuthor, Audit.AuditLog.ActorId(user), addresses.Length, ct))
        {
            return new(true, $"Not sent: an author sends at most {CopiesPerAuthorPerHour} test copies an hour. Try again later.");
        }

        jobs.Enqueue<TestSendJob>(j => j.SendAsync(issueId, addresses, CancellationToken.None));
        await audit.IssueAsync(user, Audit.AuditActions.IssueTest, issueId, $"test copies to {string.Join(", ", addresses)}", ct);
        return null;
    }
}

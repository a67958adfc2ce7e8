using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Mail;
using Newsletter.Web.Data;
using Newsletter.Web.Mail;
using Newsletter.Web.Sending;
using Newsletter.Web.Site;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// Transactional emails to readers, run by Hangfire. Each carries only the subscriber's id; the token is
/// made here. A job that runs twice re-checks the state first, so a retry never mails a changed mind.
/// </summary>
public sealed class SubscriberMailJob(AppDbContext db, TransactionalMail mail, MailOptions mailOptions, MessageIds messageIds, SubscriberTokens tokens, ReaderLifecycle readers, IOptions<SiteOptions> site, IOptions<SubscriptionOptions> options, ILogger<SubscriberMailJob> logger)
{
    // A relay that refused this many in a row is likely down or throttling: the rest wait for the job's retry
    // instead of each taking its own refusal (or its own connect timeout).
    private const int RefusalsInARow = 3;

    /// <summary>
    /// The reader emails of one or more transactions (<see cref="PendingMails"/>): a batch of sign-ups'
    /// confirmations, a confirmed reader's welcome. Each row is deleted as soon as its email went (or was found
    /// not to be needed, the reader having moved on), so a retry of this job sends only the rest. One that is
    /// refused stays, the others go on, and the job then fails with the refusal, so Hangfire retries it later and
    /// the jobs page shows why; after <see cref="RefusalsInARow"/> refusals in a row it stops early.
    /// </summary>
    public async Task SendPendingAsync(long[] pendingMailIds, CancellationToken ct)
    {
        var rows = await db.PendingMails.AsNoTracking().Where(m => pendingMailIds.Contains(m.Id)).OrderBy(m => m.Id).ToListAsync(ct);
        var done = 0;
        var inARow = 0;
        Exception? last = null;
        foreach (var row in rows)
        {
            try
            {
                // The row's own id: when this job dies between the send and the delete below, its retry sends a
                // copy that the reader's client can fold into the first.
                var id = messageIds.ForPendingMail(row.Id, mailOptions.MessageDomain);
                await (row.Kind switch
                {
                    PendingMailKind.Confirmation => ConfirmAsync(row.SubscriberId, id, ct),
                    PendingMailKind.AlreadySubscribed => AlreadySubscribedAsync(row.SubscriberId, id, ct),
                    PendingMailKind.Welcome => WelcomeAsync(row.SubscriberId, id, ct),
                    _ => throw new InvalidOperationException($"Unknown pending mail kind {row.Kind}"),
                });
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "{Kind} email to subscriber {Id} not sent; it waits for this job's retry", row.Kind, row.SubscriberId);
                last = e;
                if (++inARow == RefusalsInARow)
                {
                    break;
                }

                continue;
            }

            inARow = 0;
            // Not cancelled between a send and its record: a stop now would send this one again on the retry.
            await db.PendingMails.Where(m => m.Id == row.Id).ExecuteDeleteAsync(CancellationToken.None);
            done++;
        }

        if (last is not null)
        {
            var stopped = inARow == RefusalsInARow ? $", stopped after {RefusalsInARow} refusals in a row" : "";
            throw new MailNotSentYetException($"{rows.Count - done} of {rows.Count} reader emails wait for this job's retry{stopped}. Last refusal: {last.Message}", last);
        }
    }

    public Task SendConfirmationAsync(long subscriberId, CancellationToken ct) => ConfirmAsync(subscriberId, null, ct);

    private async Task ConfirmAsync(long subscriberId, string? messageId, CancellationToken ct)
    {
        var s = await db.Subscribers.AsNoTracking().FirstOrDefaultAsync(x => x.Id == subscriberId, ct);
        if (s is not { Status: SubscriberStatus.Pending })
        {
            logger.LogInformation("No confirmation for subscriber {Id}: {State}", subscriberId, s is null ? "gone" : s.Status.ToString());
            return;
        }

        // Not a reader yet, and maybe someone else's address typed in by a stranger: no "you're on the list",
        // no unsubscribe link or List-Unsubscribe header (there is nothing to leave; ignoring it is enough).
        // Added by the author from a file, or asked for by whoever typed the address into the form. The name came
        // with the request, from anyone: in the greeting or the To header it would carry a stranger's words
        // ("You won! Claim at ...") to an inbox that never asked for anything.
        var imported = s.Source.StartsWith("import:", StringComparison.Ordinal);
        var model = Model(s, reader: false, withName: imported);
        model["imported"] = imported;
        model["expires_days"] = Math.Max(1, (int)Math.Round(options.Value.ConfirmationTokenLifetime.TotalDays));
        // In words, so a lifetime of a day or less doesn't read "1 days" (or 30 seconds "1 days").
        model["expires_in"] = Lifetime(options.Value.ConfirmationTokenLifetime);
        model["confirm_url"] = site.Value.Absolute("/confirm/" + tokens.Confirmation(s));
        if (await SendAsync("confirm", s, model, null, messageId, ct, withName: imported))
        {
            await readers.RecordAsync(s.Id, SubscriberEventKind.ConfirmationSent, "email", null, ct);
        }
    }

    /// <summary>A link's lifetime as the confirmation says it: "7 days", "1 day", "12 hours", "1 minute".</summary>
    public static string Lifetime(TimeSpan lifetime)
    {
        static string Count(double n, string unit)
        {
            var whole = Math.Max(1, (int)Math.Round(n));
            return $"{whole} {unit}{(whole == 1 ? "" : "s")}";
        }

        return lifetime.TotalDays >= 1 ? Count(lifetime.TotalDays, "day")
            : lifetime.TotalHours >= 1 ? Count(lifetime.TotalHours, "hour")
            : Count(lifetime.TotalMinutes, "minute");
    }

    public Task SendWelcomeAsync(long subscriberId, CancellationToken ct) => WelcomeAsync(subscriberId, null, ct);

    private async Task WelcomeAsync(long subscriberId, string? messageId, CancellationToken ct)
    {
        var s = await db.Subscribers.AsNoTracking().FirstOrDefaultAsync(x => x.Id == subscriberId, ct);
        if (s is not { Status: SubscriberStatus.Active })
        {
            return;
        }

        if (await SendAsync("welcome", s, Model(s), ListHeadersFor(s.Id), messageId, ct))
        {
            await readers.RecordAsync(s.Id, SubscriberEventKind.WelcomeSent, "email", null, ct);
        }
    }

    public Task SendAlreadySubscribedAsync(long subscriberId, CancellationToken ct) => AlreadySubscribedAsync(subscriberId, null, ct);

    private async Task AlreadySubscribedAsync(long subscriberId, string? messageId, CancellationToken ct)
    {
        var s = await db.Subscribers.AsNoTracking().FirstOrDefaultAsync(x => x.Id == subscriberId, ct);
        if (s is not { Status: SubscriberStatus.Active })
        {
            return;
        }

        if (await SendAsync("already-subscribed", s, Model(s), ListHeadersFor(s.Id), messageId, ct))
        {
            await readers.RecordAsync(s.Id, SubscriberEventKind.AlreadySubscribedNoticeSent, "email", null, ct);
        }
    }

    /// <summary>Only to a confirmed reader: a pending address may be someone else's, typed in by a stranger.</summary>
    public async Task SendPreferencesLinkAsync(long subscriberId, CancellationToken ct)
    {
        var s = await db.Subscribers.AsNoTracking().FirstOrDefaultAsync(x => x.Id == subscriberId, ct);
        if (s is not { Status: SubscriberStatus.Active })
        {
            logger.LogInformation("No preferences link for subscriber {Id}: {State}", subscriberId, s is null ? "not on the list" : s.Status.ToString());
            return;
        }

        await SendAsync("preferences", s, Model(s), ListHeadersFor(s.Id), null, ct);
    }

    /// <summary>
    /// The link to download or erase one's data, asked for on the preferences page. To the address itself, so
    /// only its owner can act, whoever opened the preferences page (its link travels in every issue).
    /// </summary>
    public async Task SendDataRequestAsync(long subscriberId, DataRequestKind kind, CancellationToken ct)
    {
        var s = await db.Subscribers.AsNoTracking().FirstOrDefaultAsync(x => x.Id == subscriberId, ct);
        if (s is null)
        {
            return;
        }

        var model = Model(s);
        model["action"] = kind == DataRequestKind.Erase ? "erase" : "download";
        model["action_url"] = site.Value.Absolute("/your-data/" + tokens.DataRequest(s.Id, kind));
        model["expires_hours"] = (int)SubscriberTokens.DataRequestLifetime.TotalHours;
        await SendAsync("your-data", s, model, s.Status == SubscriberStatus.Active ? ListHeadersFor(s.Id) : null, null, ct);
    }

    /// <summary>
    /// Sends one email. A hard bounce (the mailbox doesn't exist) is final: the subscriber is marked
    /// bounced and suppressed, and the job ends instead of retrying for a day. Any other refusal throws,
    /// so Hangfire retries it and the jobs page shows why.
    /// </summary>
    private async Task<bool> SendAsync(string template, Subscriber s, Dictionary<string, object?> model, ListHeaders? list, string? messageId, CancellationToken ct, bool withName = true)
    {
        try
        {
            await mail.SendToSubscriberAsync(template, s.Email, withName ? s.Name : null, model, list, messageId, ct);
            return true;
        }
        catch (MailNotSentException e) when (e.Result is { IsHardBounce: true } result)
        {
            logger.LogWarning("'{Template}' to subscriber {Id} bounced ({Code} {Reply}); the address is suppressed", template, s.Id, result.StatusCode, result.Reply);
            await readers.SuppressAsync(s.Id, ReaderLoss.HardBounce, "smtp", $"'{template}' email: {result.StatusCode} {result.Reply}", ct);
            return false;
        }
    }

    public ListHeaders ListHeadersFor(long subscriberId)
    {
        var token = tokens.Manage(subscriberId);
        return new ListHeaders(site.Value.Absolute("/unsubscribe/" + token), token);
    }

    private Dictionary<string, object?> Model(Subscriber s, bool reader = true, bool withName = true)
    {
        var model = new Dictionary<string, object?>
        {
            ["subscriber"] = new Dictionary<string, object?> { ["email"] = s.Email, ["name"] = withName ? s.Name ?? "" : "" },
        };
        if (reader)
        {
            var token = tokens.Manage(s.Id);
            model["unsubscribe_url"] = site.Value.Absolute("/unsubscribe/" + token);
            model["preferences_url"] = site.Value.Absolute("/preferences/" + token);
        }

        return model;
    }
}

/// <summary>Some of a <see cref="SubscriberMailJob.SendPendingAsync"/> job's emails were refused; its retry sends them.</summary>
public sealed class MailNotSentYetException(string message, Exception inner) : Exception(message, inner);

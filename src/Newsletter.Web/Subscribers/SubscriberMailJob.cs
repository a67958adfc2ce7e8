using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Mail;
using Newsletter.Web.Site;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// Transactional emails to readers, run by Hangfire. Each carries only the subscriber's id; the token is
/// made here. A job that runs twice re-checks the state first, so a retry never mails a changed mind.
/// </summary>
public sealed class SubscriberMailJob(AppDbContext db, TransactionalMail mail, SubscriberTokens tokens, Subscriptions subscriptions, IOptions<SiteOptions> site, IOptions<SubscriptionOptions> options, ILogger<SubscriberMailJob> logger)
{
    public async Task SendConfirmationAsync(long subscriberId, CancellationToken ct)
    {
        var s = await db.Subscribers.AsNoTracking().FirstOrDefaultAsync(x => x.Id == subscriberId, ct);
        if (s is not { Status: SubscriberStatus.Pending })
        {
            logger.LogInformation("No confirmation for subscriber {Id}: {State}", subscriberId, s is null ? "gone" : s.Status.ToString());
            return;
        }

        var model = Model(s);
        model["expires_days"] = Math.Max(1, (int)Math.Round(options.Value.ConfirmationTokenLifetime.TotalDays));
        model["confirm_url"] = site.Value.Absolute("/confirm/" + tokens.Confirmation(s));
        await mail.SendToSubscriberAsync("confirm", s.Email, s.Name, model, ListHeadersFor(s.Id), ct);
        await subscriptions.RecordAsync(s.Id, SubscriberEventKind.ConfirmationSent, "email", null, ct);
    }

    public async Task SendWelcomeAsync(long subscriberId, CancellationToken ct)
    {
        var s = await db.Subscribers.AsNoTracking().FirstOrDefaultAsync(x => x.Id == subscriberId, ct);
        if (s is not { Status: SubscriberStatus.Active })
        {
            return;
        }

        await mail.SendToSubscriberAsync("welcome", s.Email, s.Name, Model(s), ListHeadersFor(s.Id), ct);
        await subscriptions.RecordAsync(s.Id, SubscriberEventKind.WelcomeSent, "email", null, ct);
    }

    public async Task SendAlreadySubscribedAsync(long subscriberId, CancellationToken ct)
    {
        var s = await db.Subscribers.AsNoTracking().FirstOrDefaultAsync(x => x.Id == subscriberId, ct);
        if (s is not { Status: SubscriberStatus.Active })
        {
            return;
        }

        await mail.SendToSubscriberAsync("already-subscribed", s.Email, s.Name, Model(s), ListHeadersFor(s.Id), ct);
        await subscriptions.RecordAsync(s.Id, SubscriberEventKind.AlreadySubscribedNoticeSent, "email", null, ct);
    }

    public async Task SendPreferencesLinkAsync(long subscriberId, CancellationToken ct)
    {
        var s = await db.Subscribers.AsNoTracking().FirstOrDefaultAsync(x => x.Id == subscriberId, ct);
        if (s is not { Status: SubscriberStatus.Active or SubscriberStatus.Pending })
        {
            return;
        }

        await mail.SendToSubscriberAsync("preferences", s.Email, s.Name, Model(s), ListHeadersFor(s.Id), ct);
    }

    public ListHeaders ListHeadersFor(long subscriberId)
    {
        var token = tokens.Manage(subscriberId);
        return new ListHeaders(site.Value.Absolute("/unsubscribe/" + token), token);
    }

    private Dictionary<string, object?> Model(Subscriber s)
    {
        var token = tokens.Manage(s.Id);
        return new Dictionary<string, object?>
        {
            ["subscriber"] = new Dictionary<string, object?> { ["email"] = s.Email, ["name"] = s.Name ?? "" },
            ["unsubscribe_url"] = site.Value.Absolute("/unsubscribe/" + token),
            ["preferences_url"] = site.Value.Absolute("/preferences/" + token),
        };
    }
}

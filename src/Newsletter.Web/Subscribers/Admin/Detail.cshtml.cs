using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Admin;
using Newsletter.Web.Audit;
using Newsletter.Web.Data;
using Newsletter.Web.Sending;

namespace Newsletter.Web.Subscribers.Admin;

public sealed record HistoryLine(DateTime At, string Text);

public sealed class DetailModel(AppDbContext db, ReaderLifecycle readers, AddressHashes hashes) : PageModel
{
    public Subscriber? Subscriber { get; private set; }

    /// <summary>The address is suppressed (a bounce, a complaint, an author's block): nothing goes to it, and it can't subscribe.</summary>
    public bool Suppressed { get; private set; }

    public IReadOnlyList<HistoryLine> History { get; private set; } = [];

    [TempData(Key = AdminFlash.Key)]
    public string? Message { get; set; }

    public async Task<IActionResult> OnGetAsync(long id, CancellationToken ct) => await LoadAsync(id, ct) ? Page() : NotFound();

    [Requires(AuthorPolicies.Readers)]
    public async Task<IActionResult> OnPostSaveAsync(long id, string? name, string? tags, CancellationToken ct)
    {
        if (!await readers.EditByAuthorAsync(id, name, Notes.Tags.Parse(tags).ToHashSet(), "admin", ct))
        {
            return NotFound();
        }

        return this.RedirectWithMessage($"/admin/subscribers/{id}", "Saved.");
    }

    [Requires(AuthorPolicies.Readers)]
    public async Task<IActionResult> OnPostUnsubscribeAsync(long id, CancellationToken ct)
    {
        await readers.UnsubscribeAsync(id, "admin", ct);
        return this.RedirectWithMessage($"/admin/subscribers/{id}", "Unsubscribed.");
    }

    [Requires(AuthorPolicies.Readers)]
    public async Task<IActionResult> OnPostDeleteAsync(long id, [FromServices] AuditLog audit, CancellationToken ct)
    {
        var status = await db.Subscribers.AsNoTracking().Where(s => s.Id == id).Select(s => (SubscriberStatus?)s.Status).FirstOrDefaultAsync(ct);
        if (status is null)
        {
            return this.RedirectWithMessage("/admin/subscribers", "Deleted.");
        }

        if (ReaderLifecycle.WhyNotDeleted(status.Value) is { } why)
        {
            return this.RedirectWithMessage($"/admin/subscribers/{id}", why);
        }

        if (await readers.DeleteAsync(id, erase: false, ct))
        {
            await audit.RecordAsync(User, AuditActions.ReaderDelete, "subscriber", id.ToString(System.Globalization.CultureInfo.InvariantCulture), $"deleted ({status.Value.ToString().ToLowerInvariant()})", ct);
        }

        return this.RedirectWithMessage("/admin/subscribers", "Deleted.");
    }

    [Requires(AuthorPolicies.Readers)]
    public async Task<IActionResult> OnPostLiftAsync(long id, [FromServices] AuditLog audit, CancellationToken ct)
    {
        var email = await db.Subscribers.AsNoTracking().Where(s => s.Id == id).Select(s => s.Email).FirstOrDefaultAsync(ct);
        if (email is null)
        {
            return NotFound();
        }

        if (!await readers.LiftSuppressionAsync(email, "admin", ct))
        {
            return this.RedirectWithMessage($"/admin/subscribers/{id}", "This address is not suppressed.");
        }

        await audit.RecordAsync(User, AuditActions.SuppressionLift, "subscriber", id.ToString(System.Globalization.CultureInfo.InvariantCulture), "suppression lifted", ct);
        return this.RedirectWithMessage($"/admin/subscribers/{id}", "Suppression lifted. The reader is unsubscribed: they can subscribe again, or you can add them.");
    }

    [Requires(AuthorPolicies.Owner)]
    public async Task<IActionResult> OnPostEraseAsync(long id, string? confirm, [FromServices] AuditLog audit, CancellationToken ct)
    {
        if (confirm != "yes")
        {
            return this.RedirectWithMessage($"/admin/subscribers/{id}", "Tick the box to confirm the erase.");
        }

        await readers.DeleteAsync(id, erase: true, ct);
        // The id only: an erasure that wrote the address into the audit log would not be one.
        await audit.RecordAsync(User, AuditActions.ReaderErase, "subscriber", id.ToString(System.Globalization.CultureInfo.InvariantCulture), "personal data erased", ct);
        return this.RedirectWithMessage("/admin/subscribers", "Erased. Only a hash remains, so the address stays suppressed.");
    }

    private async Task<bool> LoadAsync(long id, CancellationToken ct)
    {
        Subscriber = await db.Subscribers.AsNoTracking().Include(s => s.Tags).FirstOrDefaultAsync(s => s.Id == id, ct);
        if (Subscriber is null)
        {
            return false;
        }

        var hash = hashes.Of(Subscriber.EmailKey);
        Suppressed = await db.Suppressions.AnyAsync(x => x.EmailHash == hash, ct);

        var lines = new List<HistoryLine>();
        if (Subscriber.Source.StartsWith("import:", StringComparison.Ordinal))
        {
            lines.Add(new HistoryLine(Subscriber.CreatedAt, $"Imported ({Subscriber.Source}){(Subscriber.ConsentSource is { } c ? $", consent: {c}" : "")}"));
        }

        var events = await db.SubscriberEvents.AsNoTracking().Where(e => e.SubscriberId == id).OrderByDescending(e => e.At).Take(500).ToListAsync(ct);
        lines.AddRange(events.Select(e => new HistoryLine(e.At, $"{Describe(e.Kind)} · {e.Source}{(e.Detail is { } d ? $" · {d}" : "")}")));
        var deliveries = await (from d in db.Deliveries.AsNoTracking()
                                join i in db.Issues.AsNoTracking() on d.IssueId equals i.Id
                                where d.SubscriberId == id
                                orderby d.Id descending
                                select new { d.Status, d.SentAtMs, d.SmtpCode, d.LastError, i.Subject, i.Number, i.CreatedAt }).Take(500).ToListAsync(ct);
        lines.AddRange(deliveries.Select(d => new HistoryLine(
            d.SentAtMs is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms).UtcDateTime : d.CreatedAt,
            $"Issue #{d.Number} “{d.Subject}”: {d.Status}{(d.SmtpCode is { } code ? $" ({code})" : "")}{(d.Status is DeliveryStatus.Failed or DeliveryStatus.Deferred && d.LastError is { } err ? $" · {err}" : "")}")));
        History = [.. lines.OrderByDescending(l => l.At)];
        return true;
    }

    private static string Describe(SubscriberEventKind kind) => kind switch
    {
        SubscriberEventKind.Subscribed => "Subscribed",
        SubscriberEventKind.ConfirmationSent => "Confirmation email sent",
        SubscriberEventKind.Confirmed => "Confirmed",
        SubscriberEventKind.WelcomeSent => "Welcome email sent",
        SubscriberEventKind.AlreadySubscribedNoticeSent => "“Already subscribed” notice sent",
        SubscriberEventKind.Unsubscribed => "Unsubscribed",
        SubscriberEventKind.PreferencesChanged => "Preferences changed",
        SubscriberEventKind.Bounced => "Bounced",
        SubscriberEventKind.Complained => "Complained",
        SubscriberEventKind.EditedByAuthor => "Edited by an author",
        SubscriberEventKind.AddedByAuthor => "Added by an author",
        _ => kind.ToString(),
    };
}

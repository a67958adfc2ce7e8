using Hangfire;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Subscribers.Admin;

public sealed class NewModel(AppDbContext db, Subscriptions subscriptions, IBackgroundJobClient jobs, TimeProvider clock) : PageModel
{
    public string? Email { get; private set; }

    public string? Name { get; private set; }

    public string? Tags { get; private set; }

    public string? Mode { get; private set; }

    public string? Consent { get; private set; }

    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostAsync(string? email, string? name, string? tags, string? mode, string? consent, CancellationToken ct)
    {
        (Email, Name, Tags, Mode, Consent) = (email, name, tags, mode, consent);
        if (!Newsletter.Mail.EmailAddress.TryNormalize(email ?? "", out var normalized, out var error))
        {
            ModelState.AddModelError("", error);
            return Page();
        }

        var key = Subscriber.KeyOf(normalized);
        var hash = Subscriber.HashOf(key);
        if (await db.Suppressions.AnyAsync(s => s.EmailHash == hash, ct))
        {
            ModelState.AddModelError("", "This address is suppressed (erased, bounced or complained) and can't be added again.");
            return Page();
        }

        if (await db.Subscribers.AnyAsync(s => s.EmailKey == key, ct))
        {
            ModelState.AddModelError("", "This address is already on the list.");
            return Page();
        }

        var active = mode == "active";
        if (active && string.IsNullOrWhiteSpace(consent))
        {
            ModelState.AddModelError("", "Say where they agreed: adding someone as active needs a recorded consent.");
            return Page();
        }

        var now = clock.GetUtcNow().UtcDateTime;
        var s = new Subscriber
        {
            Email = normalized,
            EmailKey = key,
            Name = Subscriptions.CleanName(name),
            Status = active ? SubscriberStatus.Active : SubscriberStatus.Pending,
            Source = "admin",
            ConsentSource = active ? consent!.Trim() : null,
            CreatedAt = now,
            ConfirmedAt = active ? now : null,
            LastConfirmationSentAt = active ? null : now,
        };
        foreach (var tag in Notes.Tags.Parse(tags))
        {
            s.Tags.Add(new SubscriberTag { Tag = tag });
        }

        // The reader and the history line that says who added them, with what consent, commit together.
        await using (var tx = await db.Database.BeginTransactionAsync(ct))
        {
            db.Subscribers.Add(s);
            try
            {
                await db.SaveChangesAsync(ct);
            }
            catch (DbUpdateException)
            {
                ModelState.AddModelError("", "This address is already on the list.");
                return Page();
            }

            await subscriptions.RecordAsync(s.Id, SubscriberEventKind.AddedByAuthor, "admin", active ? $"active; consent: {s.ConsentSource}" : "pending; confirmation sent", ct);
            await tx.CommitAsync(ct);
        }

        if (!active)
        {
            jobs.Enqueue<SubscriberMailJob>(j => j.SendConfirmationAsync(s.Id, CancellationToken.None));
        }

        return Redirect($"/admin/subscribers/{s.Id}?message=Added.");
    }
}

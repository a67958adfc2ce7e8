using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using MimeKit;
using Newsletter.Mail;
using Newsletter.Web.Content;
using Newsletter.Web.Data;
using Newsletter.Web.Mail;
using Newsletter.Web.Notes;
using Newsletter.Web.Sending;
using Newsletter.Web.Site;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Welcome;

/// <summary>What one step says, read when its copies are sent: an edit reaches every reader who has not had it yet.</summary>
public sealed record WelcomeContent(int StepId, string Subject, string Html, string? WebUrl);

/// <summary>
/// Builds a reader's copy of a welcome step with the issue template, so it has the footer (why, preferences,
/// unsubscribe), List-Unsubscribe with one-click POST and List-Id, plus a line to leave the series alone.
/// Rendered per reader: welcome mail goes to a few new readers at a time, not to the whole list at once.
/// </summary>
public sealed class WelcomeMessages(AppDbContext db, TemplateRenderer templates, SubscriberTokens tokens, Sending.MessageIds messageIds, MailOptions mail, IOptions<SiteOptions> site, IOptions<SendingOptions> sending, TimeProvider clock)
{
    /// <summary>The step's content now, or null when its note is not published (any more).</summary>
    public async Task<WelcomeContent?> ContentAsync(int stepId, CancellationToken ct)
    {
        var step = await db.Set<WelcomeStep>().AsNoTracking().FirstOrDefaultAsync(s => s.Id == stepId, ct);
        if (step is null)
        {
            return null;
        }

        if (!step.IsNote)
        {
            return new WelcomeContent(step.Id, step.Subject, step.Html, null);
        }

        var note = await db.Notes.AsNoTracking().FirstOrDefaultAsync(n => n.Slug == step.NoteSlug && n.Status == NoteStatus.Published && n.DeletedAt == null, ct);
        return note is null ? null : new WelcomeContent(step.Id, step.Subject.Length > 0 ? step.Subject : note.Title, note.Html, site.Value.Absolute($"/notes/{note.Slug}"));
    }

    public static string LeavePath(string token) => "/welcome/leave/" + token;

    public (MimeMessage Message, MailboxAddress EnvelopeFrom) Build(WelcomeContent content, long subscriberId, string email, string? name)
    {
        var s = site.Value;
        var token = tokens.Manage(subscriberId);
        var unsubscribe = s.Absolute("/unsubscribe/" + token);
        var leave = s.Absolute(LeavePath(token));
        var body = ReaderHtml.Absolutize(content.Html, s.Absolute);
        body += $"<p class=\"welcome-leave\">You get this as part of the welcome series for new readers. <a href=\"{WebUtility.HtmlEncode(leave)}\">Stop the welcome emails</a> (you stay subscribed).</p>";
        var model = TemplateModel.Base(s);
        model["issue"] = new Dictionary<string, object?>
        {
            ["subject"] = content.Subject,
            ["number"] = "",
            ["web_url"] = content.WebUrl ?? "",
            ["preheader"] = "",
            ["date"] = clock.GetUtcNow().UtcDateTime,
        };
        model["preheader"] = "";
        model["body_html"] = ReaderHtml.ForEmail(body);
        model["body_text"] = EmailText.Of(body, s.BaseUrl).TrimEnd();
        model["subscriber"] = new Dictionary<string, object?> { ["name"] = name ?? "", ["email"] = email };
        model["unsubscribe_url"] = unsubscribe;
        model["preferences_url"] = s.Absolute("/preferences/" + token);
        model["why"] = $"You get this because {email} subscribed to {s.Title}.";
        var rendered = templates.Render("issue", model);
        var outgoing = new OutgoingMessage
        {
            ToAddress = email,
            ToName = name,
            Subject = rendered.Subject,
            Html = rendered.Html,
            Text = rendered.Text,
            // Stable per (step, reader): were a copy ever sent twice, clients would fold it.
            MessageId = messageIds.ForWelcome(content.StepId, subscriberId, mail.MessageDomain),
            ListUnsubscribeUrl = unsubscribe,
            ListUnsubscribeMailto = $"mailto:{mail.FromAddress}?subject=unsubscribe%20{Uri.EscapeDataString(token)}",
            ListId = $"{s.Title} <{sending.Value.ListId}>",
            Bulk = true,
        };
        return (MessageFactory.Build(outgoing, mail), MessageFactory.EnvelopeFrom(outgoing, mail));
    }
}

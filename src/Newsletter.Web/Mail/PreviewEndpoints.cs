using Newsletter.Mail;
using Newsletter.Web.Admin;
using Newsletter.Web.Sending;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Mail;

/// <summary>
/// Email HTML served on its own for the sandboxed preview iframes (issue preview and outbox). These
/// paths get a CSP that allows the inline styles emails need and nothing else: no script, no requests.
/// </summary>
public static class PreviewEndpoints
{
    public static WebApplication MapMailPreviews(this WebApplication app)
    {
        var preview = app.MapGroup("/admin/preview").RequireAuthorization(AdminExtensions.AuthorPolicy);
        preview.MapGet("/issues/{id:int}/email.html", async (int id, HttpContext http, IssueMessages messages, Data.AppDbContext db, CancellationToken ct) =>
        {
            // A deleted or mistyped issue is a 404, not an exception from the message builder.
            if (!await Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.AnyAsync(db.Issues, i => i.Id == id, ct))
            {
                return Results.NotFound();
            }

            try
            {
                var prepared = await messages.PrepareAsync(id, ct);
                var (message, _) = messages.Build(prepared, new Recipient(Newsletter.Web.Subscribers.SubscriberTokens.TestReaderId, http.User.Identity?.Name ?? "preview@example.org", null, SubscriberStatus.Active, null), 0);
                return Results.Content(message.HtmlBody ?? "", "text/html; charset=utf-8");
            }
            catch (Newsletter.Mail.TemplateException e)
            {
                // An empty draft (no subject yet) cannot be rendered: say so in the preview frame, not with a 500.
                return Results.Content($"<p>Nothing to preview yet: {System.Net.WebUtility.HtmlEncode(e.Message)}</p>", "text/html; charset=utf-8");
            }
        });
        // Like the Outbox page it belongs to: reader mail is for the owner only.
        preview.MapGet("/outbox/{file}", (string file, OutboxReader outbox) =>
            outbox.Read(file) is { } m ? Results.Content(m.Html.Length > 0 ? m.Html : $"<pre>{System.Net.WebUtility.HtmlEncode(m.Text)}</pre>", "text/html; charset=utf-8") : Results.NotFound())
            .RequireAuthorization(AdminExtensions.OwnerPolicy);
        return app;
    }
}

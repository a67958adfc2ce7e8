using Hangfire;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Data;
using Newsletter.Web.Sending;
using Newsletter.Web.Site;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Issues.Admin;

public sealed class PreviewModel(AppDbContext db, IssueMessages messages, IBackgroundJobClient jobs, IOptions<SiteOptions> site) : PageModel
{
    public Issue? Issue { get; private set; }

    public string Subject { get; private set; } = "";

    public string Text { get; private set; } = "";

    public int HtmlBytes { get; private set; }

    public int AudienceCount { get; private set; }

    public IReadOnlyList<string> Warnings { get; private set; } = [];

    public string DefaultTestAddress => User.Identity?.Name ?? "";

    [BindProperty(SupportsGet = true, Name = "message")]
    public string? Message { get; set; }

    public async Task<IActionResult> OnGetAsync(int id, CancellationToken ct) => await LoadAsync(id, ct) ? Page() : NotFound();

    public async Task<IActionResult> OnPostTestAsync(int id, string? addresses, CancellationToken ct)
    {
        var list = (addresses ?? "").Split([',', ';', '\n', '\r', ' '], StringSplitOptions.RemoveEmptyEntries).ToList();
        var valid = new List<string>();
        foreach (var a in list)
        {
            if (!Newsletter.Mail.EmailAddress.TryNormalize(a, out var normalized, out var error))
            {
                return Redirect($"/admin/issues/{id}/preview?message=" + Uri.EscapeDataString($"'{a}': {error}"));
            }

            valid.Add(normalized);
        }

        if (valid.Count is 0 or > TestSendJob.MaxAddresses)
        {
            return Redirect($"/admin/issues/{id}/preview?message=" + Uri.EscapeDataString($"Give 1 to {TestSendJob.MaxAddresses} addresses."));
        }

        jobs.Enqueue<TestSendJob>(j => j.SendAsync(id, valid.Distinct().ToArray(), CancellationToken.None));
        return Redirect($"/admin/issues/{id}/preview?message=" + Uri.EscapeDataString($"Test sent to {string.Join(", ", valid)}."));
    }

    private async Task<bool> LoadAsync(int id, CancellationToken ct)
    {
        Issue = await db.Issues.AsNoTracking().FirstOrDefaultAsync(i => i.Id == id && i.DeletedAt == null, ct);
        if (Issue is null)
        {
            return false;
        }

        MimeKit.MimeMessage message;
        try
        {
            var prepared = await messages.PrepareAsync(id, ct);
            (message, _) = messages.Build(prepared, new Recipient(0, DefaultTestAddress.Length > 0 ? DefaultTestAddress : "preview@example.org", null, SubscriberStatus.Active, null), 0);
        }
        catch (Newsletter.Mail.TemplateException e)
        {
            // An empty draft (no subject yet) cannot be rendered; the author is told why instead of seeing a 500.
            Warnings = [$"Nothing to preview yet: {e.Message}"];
            return true;
        }

        Subject = message.Subject ?? "";
        Text = message.TextBody ?? "";
        var html = message.HtmlBody ?? "";
        HtmlBytes = System.Text.Encoding.UTF8.GetByteCount(html);
        var published = await db.Notes.AsNoTracking().Where(n => n.Status == Notes.NoteStatus.Published && n.DeletedAt == null).Select(n => "/notes/" + n.Slug).ToListAsync(ct);
        var issues = await PublicIssues.Visible(db).Select(i => "/issues/" + i.Slug).ToListAsync(ct);
        // Its own web version exists from the moment it is sent; "Read it on the web" is not a broken link.
        issues.Add(Issue.WebPath);
        Warnings = Preflight.Check(html, Text, published.Concat(issues).ToHashSet(StringComparer.Ordinal), site.Value.BaseUrl);
        var tag = Issue.AudienceTag;
        AudienceCount = await Ledger.Audience(db, tag, DateTime.UtcNow).CountAsync(ct);
        return true;
    }
}

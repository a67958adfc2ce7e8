using Microsoft.AspNetCore.Mvc.RazorPages;
using Newsletter.Mail;

namespace Newsletter.Web.Mail.Admin;

public sealed class OutboxModel(OutboxReader outbox, MailOptions mail) : PageModel
{
    public IReadOnlyList<OutboxEntry> Entries { get; private set; } = [];

    public int PageNumber { get; private set; } = 1;

    public bool HasMore { get; private set; }

    public bool IsPickup => mail.Transport.Equals("pickup", StringComparison.OrdinalIgnoreCase);

    public string Folder => outbox.Folder;

    public void OnGet()
    {
        PageNumber = int.TryParse(Request.Query["page"], out var p) && p > 0 ? p : 1;
        Entries = outbox.List(PageNumber, 50, out var more);
        HasMore = more;
    }
}

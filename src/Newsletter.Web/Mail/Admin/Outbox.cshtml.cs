using Microsoft.AspNetCore.Mvc.RazorPages;
using Newsletter.Mail;

namespace Newsletter.Web.Mail.Admin;

// Reader mail holds every reader's manage and unsubscribe links: only the owner reads it. Account mail is
// never here (TransactionalMail.SendToAuthorAsync writes it elsewhere).
[Microsoft.AspNetCore.Authorization.Authorize(Policy = Newsletter.Web.Admin.AdminExtensions.OwnerPolicy)]
public sealed class OutboxModel(OutboxReader outbox, MailOptions mail) : PageModel
{
    public IReadOnlyList<OutboxEntry> Entries { get; private set; } = [];

    public int PageNumber { get; private set; } = 1;

    public bool HasMore { get; private set; }

    public bool IsPickup => mail.UsesPickup;

    public string Folder => outbox.Folder;

    public void OnGet()
    {
        PageNumber = int.TryParse(Request.Query["page"], out var p) && p > 0 ? p : 1;
        Entries = outbox.List(PageNumber, 50, out var more);
        HasMore = more;
    }
}

using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Newsletter.Mail;

namespace Newsletter.Web.Mail.Admin;

// Reader mail holds every reader's manage and unsubscribe links: only the owner reads it. Account mail is
// never here (TransactionalMail.SendToAuthorAsync writes it elsewhere).
[Microsoft.AspNetCore.Authorization.Authorize(Policy = Newsletter.Web.Admin.AdminExtensions.OwnerPolicy)]
public sealed partial class MessageModel(OutboxReader outbox) : PageModel
{
    public string FileName { get; private set; } = "";

    public OutboxMessage? Message { get; private set; }

    public IReadOnlyList<string> Links { get; private set; } = [];

    public IActionResult OnGet(string file)
    {
        FileName = file;
        Message = outbox.Read(file);
        if (Message is null)
        {
            return NotFound();
        }

        Links = [.. LinkPattern().Matches(Message.Text).Select(m => m.Value).Distinct()];
        return Page();
    }

    [GeneratedRegex(@"https?://[^\s<>""]+")]
    private static partial Regex LinkPattern();
}

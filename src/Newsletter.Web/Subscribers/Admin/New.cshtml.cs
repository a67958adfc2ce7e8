using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Newsletter.Web.Admin;

namespace Newsletter.Web.Subscribers.Admin;

public sealed class NewModel(ReaderLifecycle readers) : PageModel
{
    public string? Email { get; private set; }

    public string? Name { get; private set; }

    public string? Tags { get; private set; }

    public string? Mode { get; private set; }

    public string? Consent { get; private set; }

    public void OnGet()
    {
    }

    [Newsletter.Web.Admin.Requires(Newsletter.Web.Admin.AuthorPolicies.Readers)]
    public async Task<IActionResult> OnPostAsync(string? email, string? name, string? tags, string? mode, string? consent, CancellationToken ct)
    {
        (Email, Name, Tags, Mode, Consent) = (email, name, tags, mode, consent);
        if (!Newsletter.Mail.EmailAddress.TryNormalize(email ?? "", out var normalized, out var error))
        {
            ModelState.AddModelError("", error);
            return Page();
        }

        var active = mode == "active";
        if (active && string.IsNullOrWhiteSpace(consent))
        {
            ModelState.AddModelError("", "Say where they agreed: adding someone as active needs a recorded consent.");
            return Page();
        }

        var (result, id) = await readers.AddByAuthorAsync(normalized, name, Notes.Tags.Parse(tags), active ? consent : null, ReaderLifecycle.AddedInTheAdmin, ct);
        switch (result)
        {
            case AddReaderResult.Suppressed:
                ModelState.AddModelError("", "This address is suppressed (erased, bounced or complained) and can't be added again.");
                return Page();
            case AddReaderResult.AlreadyOnList:
                ModelState.AddModelError("", "This address is already on the list.");
                return Page();
        }

        return this.RedirectWithMessage($"/admin/subscribers/{id}", "Added.");
    }
}

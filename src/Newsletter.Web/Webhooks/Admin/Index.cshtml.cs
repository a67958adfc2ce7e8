using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Admin;
using Newsletter.Web.Data;

namespace Newsletter.Web.Webhooks.Admin;

/// <summary>Endpoints, their secrets and their last deliveries. Owner only: webhooks carry readers' addresses out of the site.</summary>
[Authorize(Policy = AdminExtensions.OwnerPolicy)]
public sealed class IndexModel(AppDbContext db, IOptions<WebhookOptions> options, TimeProvider clock) : PageModel
{
    public IReadOnlyList<WebhookEndpoint> Endpoints { get; private set; } = [];

    public IReadOnlyList<WebhookDelivery> Deliveries { get; private set; } = [];

    /// <summary>The endpoint a delivery went to, as its row names it: the description, or host and path.</summary>
    public string EndpointName(int endpointId) => Endpoints.FirstOrDefault(e => e.Id == endpointId) is { } endpoint
        ? endpoint.Description.Length > 0 ? endpoint.Description : WebhookEndpoint.ShortUrl(endpoint.Url)
        : $"#{endpointId}";

    private const string MessageKey = "Webhooks.Message";
    private const string SecretKey = "Webhooks.NewSecret";

    public string? Message { get; private set; }

    /// <summary>A new secret, shown once after create or rotate.</summary>
    public string? NewSecret { get; private set; }

    public async Task OnGetAsync(CancellationToken ct)
    {
        // Taken out of TempData by hand: a [TempData] property was kept for the next request too, so the
        // "shown once" secret came back on every reload.
        Message = TempData[MessageKey] as string;
        NewSecret = TempData[SecretKey] as string;
        TempData.Remove(MessageKey);
        TempData.Remove(SecretKey);
        Endpoints = await db.WebhookEndpoints.AsNoTracking().OrderBy(e => e.Id).ToListAsync(ct);
        Deliveries = await db.WebhookDeliveries.AsNoTracking().OrderByDescending(d => d.Id).Take(50).ToListAsync(ct);
    }

    public async Task<IActionResult> OnPostCreateAsync(string url, string? description, string[] events, CancellationToken ct)
    {
        if (!Uri.TryCreate(url?.Trim(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            return Done("Give a full http:// or https:// address.");
        }

        try
        {
            await WebhookHttp.AllowedAddressesAsync(uri.Host, options.Value.AllowPrivateNetworks, ct);
        }
        catch (Exception e) when (e is WebhookAddressRefusedException or System.Net.Sockets.SocketException)
        {
            return Done($"Not added: {e.Message}.");
        }

        var secret = WebhookSigner.NewSecret();
        db.WebhookEndpoints.Add(new WebhookEndpoint
        {
            Url = uri.ToString(),
            Description = (description ?? "").Trim() is { Length: > 200 } d ? d[..200] : (description ?? "").Trim(),
            Events = WebhookEndpoint.EventsOf(events.Length == 0 ? WebhookEventTypes.All : events),
            Secret = secret,
            CreatedAt = clock.GetUtcNow().UtcDateTime,
        });
        await db.SaveChangesAsync(ct);
        TempData[SecretKey] = secret;
        return Done($"Endpoint added. Copy its secret now: it is shown only once.");
    }

    public async Task<IActionResult> OnPostToggleAsync(int id, CancellationToken ct)
    {
        var changed = await db.WebhookEndpoints.Where(e => e.Id == id).ExecuteUpdateAsync(u => u.SetProperty(e => e.Enabled, e => !e.Enabled), ct);
        return Done(changed == 1 ? "Endpoint updated." : "No such endpoint.");
    }

    /// <summary>A new secret; the old one keeps signing beside it for <see cref="WebhookOptions.RotationOverlap"/>, so receivers can switch without a gap.</summary>
    public async Task<IActionResult> OnPostRotateAsync(int id, CancellationToken ct)
    {
        var secret = WebhookSigner.NewSecret();
        var until = clock.GetUtcNow().UtcDateTime + options.Value.RotationOverlap;
        var changed = await db.WebhookEndpoints.Where(e => e.Id == id).ExecuteUpdateAsync(u => u
            .SetProperty(e => e.PreviousSecret, e => e.Secret).SetProperty(e => e.PreviousSecretUntil, until).SetProperty(e => e.Secret, secret), ct);
        if (changed == 1)
        {
            TempData[SecretKey] = secret;
        }

        return Done(changed == 1 ? $"New secret below. The old one also signs until {until:yyyy-MM-dd HH:mm} UTC." : "No such endpoint.");
    }

    public async Task<IActionResult> OnPostDeleteAsync(int id, CancellationToken ct)
    {
        var deleted = await db.WebhookEndpoints.Where(e => e.Id == id).ExecuteDeleteAsync(ct);
        return Done(deleted == 1 ? "Endpoint and its deliveries deleted." : "No such endpoint.");
    }

    public async Task<IActionResult> OnPostTestAsync(int id, CancellationToken ct)
    {
        if (!await db.WebhookEndpoints.AnyAsync(e => e.Id == id, ct))
        {
            return Done("No such endpoint.");
        }

        var delivery = await WebhookOutbox.TestAsync(db, id, clock.GetUtcNow().UtcDateTime, ct);
        return Done($"Test event msg_{delivery} queued; it shows below within a few seconds.");
    }

    public async Task<IActionResult> OnPostSendAgainAsync(long id, CancellationToken ct) =>
        Done(await WebhookOutbox.SendAgainAsync(db, id, clock.GetUtcNow().UtcDateTime, ct) ? $"msg_{id} will be sent again, with the same id." : "Only a delivered or failed event can be sent again.");

    private RedirectToPageResult Done(string message)
    {
        TempData[MessageKey] = message;
        return RedirectToPage();
    }
}

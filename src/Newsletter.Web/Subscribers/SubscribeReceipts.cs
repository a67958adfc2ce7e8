using System.Globalization;
using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Mvc.ViewFeatures;
using Microsoft.Extensions.Options;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// What the check-your-inbox page may tell whoever submitted the form. The request answers before the sign-up
/// job looks at the address (<see cref="SignUpJob"/>), and the person at the keyboard may be a stranger, so the
/// page never says what the database holds. It says when this request was taken, and, when this same browser
/// asked for this same address a few minutes ago, when that was and when the next email can go: facts the
/// visitor already has. The browser's own memory is a data-protected cookie holding the address's keyed hash
/// and the time, which lives no longer than the wait between emails.
/// </summary>
public sealed class SubscribeReceipts(IDataProtectionProvider provider, AddressHashes hashes, IOptions<SubscriptionOptions> options, TimeProvider clock)
{
    public const string CookieName = "nl-subscribe-asked";
    public const string AskedAtFlash = "SubscribeAskedAt";
    public const string EarlierFlash = "SubscribeEarlierAt";

    private readonly IDataProtector _protector = provider.CreateProtector("Newsletter.Subscribers.Receipt.v1");

    /// <summary>Notes a form request for the page that follows the redirect.</summary>
    public void Note(HttpContext http, string email)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var interval = options.Value.ResendConfirmationInterval;
        var hash = hashes.Of(email);
        var earlier = EarlierAsk(http, hash, now, interval);
        if (earlier is null && interval > TimeSpan.Zero)
        {
            // The first ask in the window is kept: the wait counts from the email it sent.
            http.Response.Cookies.Append(CookieName, _protector.Protect(string.Create(CultureInfo.InvariantCulture, $"{hash}|{now.Ticks}")), new CookieOptions
            {
                HttpOnly = true,
                Secure = http.Request.IsHttps,
                SameSite = SameSiteMode.Lax,
                Path = "/subscribe",
                MaxAge = interval,
                IsEssential = true,
            });
        }

        var flash = http.RequestServices.GetRequiredService<ITempDataDictionaryFactory>().GetTempData(http);
        flash[AskedAtFlash] = now.ToString("O", CultureInfo.InvariantCulture);
        if (earlier is { } at)
        {
            flash[EarlierFlash] = at.ToString("O", CultureInfo.InvariantCulture);
        }

        flash.Save();
    }

    private DateTime? EarlierAsk(HttpContext http, string hash, DateTime now, TimeSpan interval)
    {
        if (http.Request.Cookies[CookieName] is not { Length: > 0 and < 1000 } value)
        {
            return null;
        }

        try
        {
            var parts = _protector.Unprotect(value).Split('|');
            if (parts.Length == 2 && parts[0] == hash && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) && ticks <= now.Ticks)
            {
                var at = new DateTime(ticks, DateTimeKind.Utc);
                return now - at < interval ? at : null;
            }
        }
        catch (CryptographicException)
        {
            // A cookie from another installation, or tampered with: this browser asked nothing we know of.
        }

        return null;
    }

    /// <summary>A flash time back from the page's TempData (whose serialiser turns a round-trip string back into a DateTime).</summary>
    public static DateTime? Read(object? flash) => flash switch
    {
        DateTime at => at.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(at, DateTimeKind.Utc) : at.ToUniversalTime(),
        string s when DateTime.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var at) => at.ToUniversalTime(),
        _ => null,
    };
}

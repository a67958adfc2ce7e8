using System.Globalization;
using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// Signed tokens in links. A confirmation token expires and names the subscriber's token version, so it
/// works once. A manage token (unsubscribe, preferences) never expires: an unsubscribe link in a
/// two-year-old email must still work. Both are encrypted and authenticated by ASP.NET Core data
/// protection, so they can be neither forged nor read.
/// </summary>
public sealed class SubscriberTokens(IDataProtectionProvider provider, IOptions<SubscriptionOptions> options, TimeProvider clock)
{
    private readonly ITimeLimitedDataProtector _confirm = provider.CreateProtector("Newsletter.Subscribers.Confirm.v1").ToTimeLimitedDataProtector();
    private readonly IDataProtector _manage = provider.CreateProtector("Newsletter.Subscribers.Manage.v1");

    public string Confirmation(Subscriber s) =>
        _confirm.Protect($"{s.Id}.{s.TokenVersion}", clock.GetUtcNow() + options.Value.ConfirmationTokenLifetime);

    public string Manage(long subscriberId) => _manage.Protect(subscriberId.ToString(CultureInfo.InvariantCulture));

    public ConfirmationToken ReadConfirmation(string? token)
    {
        if (string.IsNullOrWhiteSpace(token) || token.Length > 2000)
        {
            return ConfirmationToken.Invalid;
        }

        try
        {
            var payload = _confirm.Unprotect(token, out var expiration);
            var parts = payload.Split('.');
            if (expiration < clock.GetUtcNow())
            {
                return new ConfirmationToken(TokenState.Expired, long.Parse(parts[0], CultureInfo.InvariantCulture), 0);
            }

            return new ConfirmationToken(TokenState.Valid, long.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture));
        }
        catch (CryptographicException e) when (e.Message.Contains("expired", StringComparison.OrdinalIgnoreCase))
        {
            return new ConfirmationToken(TokenState.Expired, 0, 0);
        }
        catch (Exception e) when (e is CryptographicException or FormatException or IndexOutOfRangeException)
        {
            return ConfirmationToken.Invalid;
        }
    }

    public long? ReadManage(string? token)
    {
        if (string.IsNullOrWhiteSpace(token) || token.Length > 2000)
        {
            return null;
        }

        try
        {
            return long.Parse(_manage.Unprotect(token), CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is CryptographicException or FormatException)
        {
            return null;
        }
    }
}

public enum TokenState
{
    Invalid,
    Expired,
    Valid,
}

public sealed record ConfirmationToken(TokenState State, long SubscriberId, int Version)
{
    public static ConfirmationToken Invalid { get; } = new(TokenState.Invalid, 0, 0);
}

using System.Net;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Infrastructure;

/// <summary>The anonymous requests that make the app send an email.</summary>
public enum MailRequest
{
    Subscribe,
    PreferencesLink,
    PasswordReset,

    /// <summary>
    /// A download or erase link, asked for from a reader's own preferences page (which needs their token). Its own
    /// budget: the public "email me my preferences link" form, which anyone can fill in with anyone's address, must
    /// not use up the reader's.
    /// </summary>
    DataRequest,
}

/// <summary>What a request may do about the mail it asks for.</summary>
public enum MailPermit
{
    /// <summary>Both permits taken: go on.</summary>
    Granted,

    /// <summary>This client asked too often: answer 429. It says nothing about any address, so it may differ.</summary>
    ClientLimited,

    /// <summary>This address was asked for too often: send nothing, and answer exactly as if it had been sent.</summary>
    AddressLimited,

    /// <summary>The same email was asked for this address seconds ago (a double click): the first request sends it.</summary>
    AddressRepeated,
}

/// <summary>
/// The one policy for every request that sends mail to an address someone typed: a limit per client (IPv4
/// address or IPv6 /64) against one visitor filling many inboxes, and a limit per address against many
/// visitors filling one. Counted in the database (<see cref="SharedRateLimiter"/>), so the limits hold for
/// all nodes together. The address limit is taken for unknown addresses too, so its answer reveals nothing.
/// </summary>
public sealed class MailRequestLimits(SharedRateLimiter limiter, IOptions<SubscriptionOptions> subscriptions)
{
    /// <summary>A person needs one preferences link or reset link, two if the first is slow; more is someone else.</summary>
    public const int LinksPerAddressPerHour = 3;

    private const int LinksPerClientPerMinute = 10;

    public (RateLimit PerClient, RateLimit PerAddress) LimitsFor(MailRequest request) => request switch
    {
        MailRequest.Subscribe => (subscriptions.Value.PerIpLimit, subscriptions.Value.PerAddressLimit),
        MailRequest.PreferencesLink => (new("preferences-link-ip", LinksPerClientPerMinute, TimeSpan.FromMinutes(1)), new("preferences-link-address", LinksPerAddressPerHour, TimeSpan.FromHours(1))),
        MailRequest.PasswordReset => (new("password-reset-ip", LinksPerClientPerMinute, TimeSpan.FromMinutes(1)), new("password-reset-address", LinksPerAddressPerHour, TimeSpan.FromHours(1))),
        MailRequest.DataRequest => (new("data-request-ip", LinksPerClientPerMinute, TimeSpan.FromMinutes(1)), new("data-request-address", LinksPerAddressPerHour, TimeSpan.FromHours(1))),
        _ => throw new ArgumentOutOfRangeException(nameof(request)),
    };

    /// <summary>The client's permit alone: taken before a body is read, so a flood costs one statement a request.</summary>
    public async Task<bool> TryClientAsync(MailRequest request, IPAddress? client, CancellationToken ct) =>
        await limiter.TryAcquireAsync(LimitsFor(request).PerClient, SubscribersExtensions.ClientKey(client), ct);

    /// <summary>
    /// The address's permit, by its lower-cased form, so case games don't multiply it. <paramref name="what"/>
    /// names the email when one limit covers several (a preferences link, a data download): a repeat is the same one.
    /// </summary>
    public async Task<bool> TryAddressAsync(MailRequest request, string address, CancellationToken ct, string what = "") =>
        await AddressPermitAsync(request, address, what, ct) == MailPermit.Granted;

    private async Task<MailPermit> AddressPermitAsync(MailRequest request, string address, string what, CancellationToken ct)
    {
        var key = Subscriber.KeyOf(address);
        var hourly = LimitsFor(request).PerAddress;
        // A link asked for again within seconds is the same request (a double click): one email, where the hourly
        // permit alone let both clicks through. Sign-ups are made one per address by their own table already.
        var repeat = subscriptions.Value.RepeatedRequestWindow;
        if (request != MailRequest.Subscribe && repeat > TimeSpan.Zero && !await limiter.TryAcquireAsync(new RateLimit($"{hourly.Name}-repeat{what}", 1, repeat), key, ct))
        {
            return MailPermit.AddressRepeated;
        }

        return await limiter.TryAcquireAsync(hourly, key, ct) ? MailPermit.Granted : MailPermit.AddressLimited;
    }

    /// <summary>Both permits, the client's first.</summary>
    public async Task<MailPermit> TryAcquireAsync(MailRequest request, IPAddress? client, string address, CancellationToken ct, string what = "") =>
        !await TryClientAsync(request, client, ct) ? MailPermit.ClientLimited : await AddressPermitAsync(request, address, what, ct);
}

public static class MailRequestLimitsExtensions
{
    public static IServiceCollection AddMailRequestLimits(this IServiceCollection services)
    {
        services.AddSharedRateLimiter();
        services.TryAddScoped<MailRequestLimits>();
        return services;
    }
}

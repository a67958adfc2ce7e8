using System.ComponentModel.DataAnnotations;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Subscribers;

/// <summary>The "Subscriptions" section of appsettings.json.</summary>
public sealed class SubscriptionOptions
{
    /// <summary>How long a confirmation link works.</summary>
    public TimeSpan ConfirmationTokenLifetime { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Subscribing again while pending re-sends the confirmation at most this often.</summary>
    public TimeSpan ResendConfirmationInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// A preferences link, data request or password reset asked for again within this long is the same request
    /// (a double click, a reload of the POST) and sends nothing more. Zero turns it off.
    /// </summary>
    public TimeSpan RepeatedRequestWindow { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Subscribe requests per client (IPv4 address, IPv6 /64) per minute, summed over all nodes.</summary>
    [Range(1, int.MaxValue)]
    public int PerIpPerMinute { get; set; } = 10;

    /// <summary>Subscribe requests per email address per hour from any client, summed over all nodes.</summary>
    [Range(1, int.MaxValue)]
    public int PerAddressPerHour { get; set; } = 5;

    public RateLimit PerIpLimit => new("subscribe-ip", PerIpPerMinute, TimeSpan.FromMinutes(1));

    public RateLimit PerAddressLimit => new("subscribe-address", PerAddressPerHour, TimeSpan.FromHours(1));

    /// <summary>Topics a reader can choose on the preferences page; empty offers the tags of published notes.</summary>
    public List<string> Topics { get; set; } = [];
}

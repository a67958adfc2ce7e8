namespace Newsletter.Web.Subscribers;

/// <summary>The "Subscriptions" section of appsettings.json.</summary>
public sealed class SubscriptionOptions
{
    /// <summary>How long a confirmation link works.</summary>
    public TimeSpan ConfirmationTokenLifetime { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Subscribing again while pending re-sends the confirmation at most this often.</summary>
    public TimeSpan ResendConfirmationInterval { get; set; } = TimeSpan.FromMinutes(10);

    public int PerIpPerMinute { get; set; } = 10;

    public int PerAddressPerHour { get; set; } = 5;

    /// <summary>Topics a reader can choose on the preferences page; empty offers the tags of published notes.</summary>
    public List<string> Topics { get; set; } = [];
}

using Microsoft.Extensions.Options;
using Newsletter.Mail;
using Newsletter.Web.Sending;
using Newsletter.Web.Site;

namespace Newsletter.Web.Operations;

/// <summary>
/// Settings that let the app start but make its mail worse or its links wrong, each said with the setting to
/// change: logged once at Warning when the app starts, and listed on the admin dashboard until fixed. The
/// defaults (a laptop: localhost, the pickup folder) raise some of them on purpose; a live site should raise none.
/// </summary>
public sealed class StartupWarnings
{
    public StartupWarnings(IOptions<SiteOptions> site, MailOptions mail, IOptions<SendingOptions> sending, IOptions<MetricsOptions> metrics, IHostEnvironment environment)
    {
        Items = [.. Find(site.Value, mail, sending.Value, metrics.Value, environment)];
    }

    public IReadOnlyList<string> Items { get; }

    private static IEnumerable<string> Find(SiteOptions site, MailOptions mail, SendingOptions sending, MetricsOptions metrics, IHostEnvironment environment)
    {
        var baseUrl = Uri.TryCreate(site.BaseUrl, UriKind.Absolute, out var uri) ? uri : null;
        if (baseUrl is null || baseUrl.IsLoopback)
        {
            yield return $"Site:BaseUrl is {site.BaseUrl}: links in emails and feeds point at this machine, which no reader can open. Set it to the site's public https:// address.";
        }
        else if (baseUrl.Scheme != Uri.UriSchemeHttps)
        {
            yield return $"Site:BaseUrl is {site.BaseUrl}, not https: mailbox providers offer one-click unsubscribe (RFC 8058) only for an https link, and sign-in cookies travel unencrypted. Serve the site over TLS and set Site:BaseUrl to its https:// address.";
        }

        if (mail.UsesPickup)
        {
            // Only for a site with a public address: the README's first command runs as Production on localhost,
            // where the pickup folder is the point (the admin's Outbox shows it), and the address warning above
            // already says no reader can reach it.
            if (environment.IsProduction() && baseUrl is { IsLoopback: false })
            {
                yield return $"Mail:Transport is Pickup in Production: mail is written to the outbox folder and never sent. Set Mail:Transport=Smtp and Mail:Smtp:Host, Port, UserName and Password.";
            }
        }
        else
        {
            // Only for mail that leaves: a pickup folder has no deliverability to protect.
            if (!mail.Dkim.Enabled)
            {
                yield return "DKIM signing is off: Gmail and Yahoo reject or spam-folder bulk mail without it. Publish a key in DNS and set Mail:Dkim:Enabled, Domain, Selector and PrivateKeyPath (see the README).";
            }

            if (string.IsNullOrWhiteSpace(sending.BounceDomain))
            {
                yield return "Sending:BounceDomain is not set: bounces go to Mail:FromAddress, and only those that quote the message's headers and reach process-inbound, POST /api/inbound or the Replies IMAP poll are matched to a reader. Set it to a domain whose mail reaches one of them, so every bounce is (see the README's Bounces).";
            }
        }

        if (metrics.Token is { Length: > 0 and < 16 })
        {
            yield return "Metrics:Token is shorter than 16 characters: use a long random one (openssl rand -hex 32).";
        }
    }
}

/// <summary>Says the warnings once, at start, so they reach the log an operator reads after a deploy.</summary>
internal sealed class StartupWarningsLog(StartupWarnings warnings, ILogger<StartupWarnings> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var warning in warnings.Items)
        {
            logger.LogWarning("Configuration: {Warning}", warning);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

public static class StartupWarningsExtensions
{
    public static WebApplicationBuilder AddStartupWarnings(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<StartupWarnings>();
        builder.Services.AddHostedService<StartupWarningsLog>();
        return builder;
    }
}

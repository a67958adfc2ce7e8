using System.Net;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using MimeKit;
using Newsletter.Mail;
using Newsletter.Web.Content;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Mail;
using Newsletter.Web.Site;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Sending;

/// <summary>
/// Where each reader's own links, name and address go in an issue rendered once. Each rendering draws new ones: a
/// marker anyone could know, written into the author's body (an image's address), would be filled in too, and hand
/// every reader's address and unsubscribe token to whoever serves that image.
/// </summary>
public sealed record IssueMarkers(string Unsubscribe, string Preferences, string Name, string Email)
{
    /// <summary>Only letters, digits, ':' and '-': unchanged by HTML escaping, Liquid, quoted-printable and line wrapping.</summary>
    public static IssueMarkers New()
    {
        var nonce = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12));
        return new($"urn:newsletter:unsubscribe:{nonce}", $"urn:newsletter:preferences:{nonce}", $"urn-newsletter-name-{nonce}", $"urn-newsletter-email-{nonce}");
    }

    /// <summary>In the order of the values <see cref="IssueMessages.Build"/> fills them with.</summary>
    internal string[] All => [Unsubscribe, Preferences, Name, Email];
}

/// <summary>An issue rendered once, with markers where each reader's own links and name go.</summary>
public sealed partial record PreparedIssue(int IssueId, string Subject, string Html, string Text, string MessageDomain, IssueMarkers Markers)
{

    // With the wire's CRLF line ends already, so MimeKit can write each reader's 7bit or 8bit copy as it
    // stands rather than pass every byte through its LF-to-CRLF filter. Only a bare LF changes, which that
    // filter would have changed anyway, so those bytes on the wire are the same. A copy MimeKit re-encodes
    // (base64 for a mostly non-ASCII body to a relay without 8BITMIME) now encodes CRLF line ends, the
    // canonical form RFC 2045 asks for; quoted-printable writes line breaks the same either way.
    internal MarkedText HtmlParts { get; } = MarkedText.Parse(ToCrlf(Html), Markers.All);

    internal MarkedText TextParts { get; } = MarkedText.Parse(ToCrlf(Text), Markers.All);

    internal static string ToCrlf(string text) => BareLineFeed().Replace(text, "\r\n");

    [System.Text.RegularExpressions.GeneratedRegex("(?<!\r)\n")]
    private static partial System.Text.RegularExpressions.Regex BareLineFeed();

    /// <summary>What every reader's links and headers share, built once: only the token is the reader's own.</summary>
    public required string UnsubscribeBase { get; init; }

    public required string PreferencesBase { get; init; }

    /// <summary>The bases HTML-encoded; a token is base64url, which encoding leaves as it is.</summary>
    public required string UnsubscribeBaseHtml { get; init; }

    public required string PreferencesBaseHtml { get; init; }

    public required string ListId { get; init; }

    public required string MailtoPrefix { get; init; }

    /// <summary>
    /// Chosen once per issue, so MimeKit need not scan every reader's 20 KB copy to choose it again. 7bit when
    /// the body is ASCII, 8bit when it is not (smart punctuation makes most issues so) and the relay takes 8BITMIME,
    /// each only with lines short enough to take a reader's links and name; quoted-printable otherwise.
    /// </summary>
    internal ContentEncoding HtmlEncoding { get; } = EncodingOf(Html);

    internal ContentEncoding TextEncoding { get; } = EncodingOf(Text);

    private static ContentEncoding EncodingOf(string body)
    {
        var part = new TextPart("plain") { Text = body };
        return part.GetBestEncoding(EncodingConstraint.SevenBit, 500) == ContentEncoding.SevenBit ? ContentEncoding.SevenBit
            : part.GetBestEncoding(EncodingConstraint.EightBit, 600) == ContentEncoding.EightBit ? ContentEncoding.EightBit
            : ContentEncoding.QuotedPrintable;
    }
}

/// <summary>
/// Builds each reader's copy of an issue. The Liquid template runs once per issue with marker values;
/// each message then only swaps in the reader's links and name, so 100,000 recipients cost 100,000
/// string replacements, not 100,000 template renders.
/// </summary>
public sealed class IssueMessages(AppDbContext db, TemplateRenderer templates, SubscriberTokens tokens, MailOptions mail, IOptions<SiteOptions> site, IOptions<SendingOptions> sending, VerpAddresses verp, MessageIds messageIds, TimeProvider clock)
{
    /// <summary>
    /// The issue as every reader's copy shares it. With <paramref name="links"/> (a real send, not a preview or a
    /// test), the body's web links become counting links when <c>Tracking:LinkClicks</c> is on.
    /// </summary>
    public async Task<PreparedIssue> PrepareAsync(int issueId, CancellationToken ct, Tracking.LinkClicks? links = null)
    {
        var issue = await db.Issues.AsNoTracking().FirstAsync(i => i.Id == issueId, ct);
        var body = links is null ? issue.Html : await links.RewriteAsync(issueId, issue.Html, ct);
        var s = site.Value;
        var model = TemplateModel.Base(s);
        model["issue"] = new Dictionary<string, object?>
        {
            ["subject"] = issue.Subject,
            ["number"] = issue.Number?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "",
            ["web_url"] = issue.EmailOnly || issue.Slug.StartsWith("draft-", StringComparison.Ordinal) ? "" : s.Absolute(issue.WebPath),
            ["preheader"] = issue.Preheader,
            // When it went out (UTC; templates show it in the site's zone); a draft's preview or test shows today.
            ["date"] = issue.PublishedAt ?? issue.StartedAt ?? clock.GetUtcNow().UtcDateTime,
        };
        model["preheader"] = issue.Preheader;
        model["body_html"] = Content.ReaderHtml.ForEmail(body);
        // Written from the HTML once per send, so every email has it, whenever its issue was composed; its [n]
        // references are the counting links too when those are on.
        model["body_text"] = EmailText.Of(body, s.BaseUrl).TrimEnd();
        var markers = IssueMarkers.New();
        model["subscriber"] = new Dictionary<string, object?> { ["name"] = markers.Name, ["email"] = markers.Email };
        model["unsubscribe_url"] = markers.Unsubscribe;
        model["preferences_url"] = markers.Preferences;
        model["why"] = $"You get this because {markers.Email} subscribed to {s.Title}.";
        var rendered = templates.Render("issue", model);
        return new PreparedIssue(issueId, rendered.Subject, rendered.Html, rendered.Text, mail.MessageDomain, markers)
        {
            UnsubscribeBase = s.Absolute("/unsubscribe/"),
            PreferencesBase = s.Absolute("/preferences/"),
            UnsubscribeBaseHtml = WebUtility.HtmlEncode(s.Absolute("/unsubscribe/")),
            PreferencesBaseHtml = WebUtility.HtmlEncode(s.Absolute("/preferences/")),
            ListId = $"{s.Title} <{sending.Value.ListId}>",
            MailtoPrefix = $"mailto:{mail.FromAddress}?subject=unsubscribe%20",
        };
    }

    /// <summary>One reader's message and envelope sender (a VERP address when a bounce domain is set).</summary>
    public (MimeMessage Message, MailboxAddress EnvelopeFrom) Build(PreparedIssue issue, Recipient r, long deliveryId, string? messageId = null)
    {
        var token = tokens.Manage(r.Id);
        var unsubscribe = issue.UnsubscribeBase + token;
        var preferences = issue.PreferencesBase + token;
        var name = r.Name ?? "";
        var html = issue.HtmlParts.FillUtf8([issue.UnsubscribeBaseHtml + token, issue.PreferencesBaseHtml + token, WebUtility.HtmlEncode(name), WebUtility.HtmlEncode(r.Email)]);
        var text = issue.TextParts.FillUtf8([unsubscribe, preferences, name, r.Email]);
        var o = sending.Value;
        // A reader's name or address may bring the only non-ASCII text: then MimeKit chooses, as for any message.
        var known = Ascii.IsValid(name) && Ascii.IsValid(r.Email);
        var outgoing = new OutgoingMessage
        {
            ToAddress = r.Email,
            ToName = r.Name,
            Subject = issue.Subject,
            HtmlUtf8 = html,
            TextUtf8 = text,
            // Stable per (issue, reader), and signed: a complaint must quote it to be believed.
            MessageId = messageId ?? messageIds.For(issue.IssueId, r.Id, issue.MessageDomain),
            ListUnsubscribeUrl = unsubscribe,
            ListUnsubscribeMailto = issue.MailtoPrefix + Uri.EscapeDataString(token),
            ListId = issue.ListId,
            Bulk = true,
            ReturnPath = string.IsNullOrWhiteSpace(o.BounceDomain) ? null : verp.For(deliveryId, o.BounceDomain),
            HtmlEncoding = known ? issue.HtmlEncoding : null,
            TextEncoding = known ? issue.TextEncoding : null,
        };
        var message = MessageFactory.Build(outgoing, mail);
        return (message, MessageFactory.EnvelopeFrom(outgoing, mail));
    }
}

using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using MimeKit;
using Newsletter.Web.Data;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Sending;

/// <summary>What a piece of inbound mail turned out to be, and what was done about it.</summary>
public enum InboundKind
{
    /// <summary>Not ours, forged, or not a report: nothing changed.</summary>
    Ignored,

    /// <summary>A delay notice (4.x.x): the server is still trying; nothing changed.</summary>
    Delayed,

    /// <summary>The address does not exist (5.1.x and the like): the delivery failed and the reader is suppressed.</summary>
    HardBounce,

    /// <summary>A permanent failure that is not about the address (mailbox full, policy): the delivery failed.</summary>
    SoftBounce,

    /// <summary>The reader marked it as spam (an ARF feedback report): suppressed.</summary>
    Complaint,

    /// <summary>The reader used the List-Unsubscribe mailto: unsubscribed.</summary>
    Unsubscribe,

    /// <summary>Someone wrote to the author: kept in the admin's Replies (once, however often it arrives).</summary>
    Reply,
}

public sealed record InboundResult(InboundKind Kind, long? DeliveryId, long? SubscriberId, string Detail);

/// <summary>
/// Mail that comes back: bounces that arrive after the SMTP server said 250 (DSNs, RFC 3464), spam
/// complaints (ARF, RFC 5965) and List-Unsubscribe mailto requests. A plain SMTP relay accepts first and
/// bounces later, so without this a dead address would be mailed forever. A bounce is believed when it is
/// addressed to a VERP address whose MAC is right; without a bounce domain (no VERP, so bounces come back to the
/// From address) when it quotes the original's signed Message-ID (<see cref="MessageIds"/>) and names that
/// reader's address as the recipient that failed. A complaint names the delivery by VERP or by the signed
/// Message-ID: both are proof we sent that message to that reader.
/// An unsubscribe carries the reader's signed token. Anything else that is not a report is someone writing to
/// the author: it is kept in the Replies inbox (<see cref="Replies.ReplyInbox"/>).
/// </summary>
public sealed partial class InboundMail(AppDbContext db, VerpAddresses verp, MessageIds messageIds, SubscriberTokens tokens, ReaderLifecycle readers, Replies.ReplyInbox replies, Microsoft.Extensions.Options.IOptions<SendingOptions> sending, TimeProvider clock, ILogger<InboundMail> logger)
{
    private static readonly string[] RecipientHeaders = ["X-Original-To", "Delivered-To", "Envelope-To", "X-Envelope-To", "To", "Cc"];

    /// <summary>
    /// RFC 5322 allows 998 bytes a line; real mail stays far below this. MimeKit needs tens of seconds for one
    /// multi-megabyte header line, so a message with a longer line is refused before it is parsed.
    /// </summary>
    public const int MaxLineBytes = 64 * 1024;

    /// <summary>All the header lines of the message (and those of a message it quotes) together.</summary>
    public const int MaxHeaderBytes = 1024 * 1024;

    /// <summary>
    /// The largest message read at all (the pipe has no other limit; the HTTP endpoint stops at 10 MB). A reply
    /// above it is refused with a sentence in the log, not kept: readers' replies are words, and a 25 MB one is
    /// an attachment the author would get through their own mailbox anyway.
    /// </summary>
    public const int MaxMessageBytes = 25 * 1024 * 1024;

    /// <summary>Parses raw inbound mail, or says why it won't: not a message, too big, or a line or header block too long to be real mail.</summary>
    public static async Task<(MimeMessage? Message, string? Problem)> ParseAsync(Stream raw, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await raw.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > MaxMessageBytes)
            {
                return (null, $"Over {MaxMessageBytes / (1024 * 1024)} MB: not read.");
            }

            buffer.Write(chunk, 0, read);
        }

        if (TooLong(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)) is { } problem)
        {
            return (null, problem);
        }

        buffer.Position = 0;
        try
        {
            return (await MimeMessage.LoadAsync(buffer, ct), null);
        }
        catch (FormatException e)
        {
            return (null, $"The body is not an email message (RFC 5322): {e.Message}");
        }
    }

    private static string? TooLong(ReadOnlySpan<byte> message)
    {
        var headerBytes = 0;
        var inHeaders = true;
        while (message.Length > 0)
        {
            var end = message.IndexOf((byte)'\n');
            var line = end < 0 ? message : message[..end];
            if (line.Length > MaxLineBytes)
            {
                return $"A line of {line.Length:N0} bytes: real mail keeps lines under {MaxLineBytes:N0}.";
            }

            if (inHeaders)
            {
                headerBytes += line.Length;
                inHeaders = line.TrimEnd((byte)'\r').Length > 0;
            }

            message = end < 0 ? default : message[(end + 1)..];
        }

        return headerBytes > MaxHeaderBytes ? $"{headerBytes:N0} bytes of headers: real mail has under {MaxHeaderBytes:N0}." : null;
    }

    public Task<InboundResult> ProcessAsync(MimeMessage message, CancellationToken ct) => ProcessAsync(message, "pipe", ct);

    /// <param name="message">The mail.</param>
    /// <param name="source">How it came: pipe, http or imap (shown beside a kept reply).</param>
    /// <param name="ct">Cancels the work.</param>
    public async Task<InboundResult> ProcessAsync(MimeMessage message, string source, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(message);
        var result = await ClassifyAndApplyAsync(message, source, ct);
        // A relay's diagnostic quotes the address; the log names the reader by id only, so an erase leaves no
        // address behind in it.
        logger.LogInformation("Inbound mail {MessageId}: {Kind} (delivery {Delivery}, subscriber {Subscriber}): {Detail}",
            message.MessageId, result.Kind, result.DeliveryId, result.SubscriberId, Address().Replace(result.Detail, "(address)"));
        return result;
    }

    private async Task<InboundResult> ClassifyAndApplyAsync(MimeMessage message, string source, CancellationToken ct)
    {
        var deliveryId = VerpDelivery(message);
        var parts = message.BodyParts.ToList();

        if (parts.OfType<MessageFeedbackReport>().FirstOrDefault() is { } feedback)
        {
            var delivery = deliveryId is { } id ? await db.Deliveries.AsNoTracking().FirstOrDefaultAsync(d => d.Id == id, ct) : await OriginalDeliveryAsync(message, ct);
            if (delivery is null)
            {
                return new InboundResult(InboundKind.Ignored, null, null, "a complaint that quotes no message of ours with a valid MAC (forged, or from before Message-IDs were signed)");
            }

            var type = feedback.Fields["Feedback-Type"] ?? "abuse";
            await readers.SuppressAsync(delivery.SubscriberId, ReaderLoss.Complaint, "arf", $"complaint ({type.Trim()}) about issue {delivery.IssueId}", ct);
            return new InboundResult(InboundKind.Complaint, delivery.Id, delivery.SubscriberId, $"feedback type {type.Trim()}");
        }

        if (parts.OfType<MessageDeliveryStatus>().FirstOrDefault() is { } status)
        {
            if (deliveryId is not { } id)
            {
                return await QuotedBounceAsync(message, status, ct);
            }

            var delivery = await db.Deliveries.AsNoTracking().FirstOrDefaultAsync(d => d.Id == id, ct);
            if (delivery is null)
            {
                return new InboundResult(InboundKind.Ignored, id, null, "the delivery it names is gone");
            }

            return await ApplyReportAsync(delivery, status, ct);
        }

        if (UnsubscribeToken(message.Subject) is { } token)
        {
            if (tokens.ReadManage(token) is not { } subscriberId)
            {
                return new InboundResult(InboundKind.Ignored, null, null, "an unsubscribe request with a token that is not ours");
            }

            await readers.UnsubscribeAsync(subscriberId, "email:list-unsubscribe", ct);
            return new InboundResult(InboundKind.Unsubscribe, null, subscriberId, "List-Unsubscribe mailto");
        }

        if (message.Body?.ContentType.IsMimeType("multipart", "report") == true)
        {
            return new InboundResult(InboundKind.Ignored, deliveryId, null, "a report we can't read or match: not kept as a reply");
        }

        var kept = await replies.StoreAsync(message, source, ct);
        return new InboundResult(InboundKind.Reply, null, kept.SubscriberId, kept.Duplicate
            ? $"a reply already kept (thread {kept.ThreadId}); not stored again"
            : $"a reply kept in thread {kept.ThreadId} ({(kept.SubscriberId is null ? "unknown reader" : $"reader {kept.SubscriberId}")}{(kept.Topic.Length > 0 ? ", " + kept.Topic : "")})");
    }

    private async Task<InboundResult> ApplyReportAsync(Delivery delivery, MessageDeliveryStatus report, CancellationToken ct)
    {
        // Group 0 is about the message; the rest are one per recipient. Ours have one recipient each.
        var recipient = report.StatusGroups.Skip(1).FirstOrDefault();
        var action = recipient?["Action"]?.Trim().ToLowerInvariant() ?? "";
        var code = recipient?["Status"]?.Trim() ?? "";
        var diagnostic = Unfold(recipient?["Diagnostic-Code"]);
        if (action is "delayed" or "relayed" or "delivered" or "expanded" || code.StartsWith('4') || code.StartsWith('2'))
        {
            return new InboundResult(InboundKind.Delayed, delivery.Id, delivery.SubscriberId, $"{action} {code}: nothing to do");
        }

        if (action != "failed" || !code.StartsWith('5'))
        {
            return new InboundResult(InboundKind.Ignored, delivery.Id, delivery.SubscriberId, $"a report that says '{action} {code}'");
        }

        var reply = SmtpReply().Match(diagnostic) is { Success: true } m ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 550;
        var hard = Newsletter.Mail.BounceRule.IsHard(reply, code);
        var error = $"bounced after it was accepted: {code} {diagnostic}".Trim();
        // The delivery, the suppression and the history line commit together: a stop between them must not
        // leave a hard-bounced address Failed on the ledger but still mailable.
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await db.Deliveries.Where(d => d.Id == delivery.Id).ExecuteUpdateAsync(u => u
            .SetProperty(d => d.Status, DeliveryStatus.Failed)
            .SetProperty(d => d.LastAttemptAtMs, clock.GetUtcNow().ToUnixTimeMilliseconds())
            .SetProperty(d => d.SmtpCode, reply)
            .SetProperty(d => d.LastError, error.Length > 1000 ? error[..1000] : error), ct);
        if (hard)
        {
            await readers.SuppressAsync(delivery.SubscriberId, ReaderLoss.HardBounce, "dsn", $"hard bounce from issue {delivery.IssueId}: {code} {diagnostic}", ct);
        }
        else
        {
            await readers.RecordAsync(delivery.SubscriberId, SubscriberEventKind.IssueFailed, "dsn", $"issue {delivery.IssueId} bounced: {code} {diagnostic}", ct);
        }

        await tx.CommitAsync(ct);

        return new InboundResult(hard ? InboundKind.HardBounce : InboundKind.SoftBounce, delivery.Id, delivery.SubscriberId, $"{code} {diagnostic}");
    }

    /// <summary>
    /// A bounce that came back to the From address, as every bounce does when no bounce domain is set: believed when
    /// it quotes our signed Message-ID and names the address that message went to as the recipient that failed.
    /// With a bounce domain every genuine bounce carries its VERP address, so one without it is not believed.
    /// </summary>
    private async Task<InboundResult> QuotedBounceAsync(MimeMessage message, MessageDeliveryStatus status, CancellationToken ct)
    {
        if (!string.IsNullOrWhiteSpace(sending.Value.BounceDomain))
        {
            return new InboundResult(InboundKind.Ignored, null, null, "a delivery report not addressed to a VERP address of ours (or its MAC is wrong)");
        }

        if (await OriginalDeliveryAsync(message, ct) is not { } delivery)
        {
            return new InboundResult(InboundKind.Ignored, null, null, "a delivery report that quotes no message of ours with a valid MAC");
        }

        var recipient = status.StatusGroups.Skip(1).FirstOrDefault();
        var named = new[] { recipient?["Final-Recipient"], recipient?["Original-Recipient"] }
            .Select(v => v?.Split(';', 2) is [var type, var address] && type.Trim().Equals("rfc822", StringComparison.OrdinalIgnoreCase) ? Subscriber.KeyOf(address) : null)
            .OfType<string>()
            .ToList();
        var key = await db.Subscribers.Where(x => x.Id == delivery.SubscriberId).Select(x => x.EmailKey).FirstOrDefaultAsync(ct);
        if (key is null || !named.Contains(key, StringComparer.Ordinal))
        {
            return new InboundResult(InboundKind.Ignored, delivery.Id, null, "a delivery report that quotes our message to one reader but names another recipient");
        }

        return await ApplyReportAsync(delivery, status, ct);
    }

    private long? VerpDelivery(MimeMessage message)
    {
        foreach (var name in RecipientHeaders)
        {
            foreach (var value in message.Headers.Where(h => h.Field.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value))
            {
                if (verp.TryRead(value, out var id))
                {
                    return id;
                }
            }
        }

        return null;
    }

    /// <summary>A complaint or bounce carries the original (or its headers); our Message-ID names the issue and the reader.</summary>
    private async Task<Delivery?> OriginalDeliveryAsync(MimeMessage report, CancellationToken ct)
    {
        var ids = report.BodyParts.OfType<MessagePart>().Select(p => p.Message?.MessageId)
            .Concat(report.BodyParts.OfType<TextPart>().Where(p => p.ContentType.IsMimeType("text", "rfc822-headers")).Select(p => MessageIdIn(p.Text)));
        foreach (var id in ids)
        {
            if (messageIds.TryRead(id, out var issueId, out var subscriberId))
            {
                return await db.Deliveries.AsNoTracking().FirstOrDefaultAsync(d => d.IssueId == issueId && d.SubscriberId == subscriberId, ct);
            }
        }

        return null;
    }

    private static string? MessageIdIn(string headers) => MessageIdHeader().Match(headers) is { Success: true } m ? m.Groups[1].Value : null;

    private static string? UnsubscribeToken(string? subject) =>
        subject is not null && UnsubscribeSubject().Match(subject.Trim()) is { Success: true } m ? m.Groups[1].Value : null;

    private static string Unfold(string? value) => Regex.Replace(value ?? "", @"\s+", " ").Trim();

    [GeneratedRegex(@"(?mi)^Message-ID:\s*<([^>]+)>", RegexOptions.CultureInvariant)]
    private static partial Regex MessageIdHeader();

    [GeneratedRegex(@"^unsubscribe\s+(\S{10,2000})$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex UnsubscribeSubject();

    [GeneratedRegex(@"[^\s<>()\[\],;:""']+@[^\s<>()\[\],;:""']+", RegexOptions.CultureInvariant)]
    private static partial Regex Address();

    [GeneratedRegex(@"\b([45]\d\d)\b", RegexOptions.CultureInvariant)]
    private static partial Regex SmtpReply();
}

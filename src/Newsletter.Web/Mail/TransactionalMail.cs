using Microsoft.Extensions.Options;
using Newsletter.Mail;
using Newsletter.Web.Sending;
using Newsletter.Web.Site;

namespace Newsletter.Web.Mail;

/// <summary>The per-reader part of List-Unsubscribe: the https URL and the token for the mailto subject.</summary>
public sealed record ListHeaders(string UnsubscribeUrl, string ManageToken);

/// <summary>
/// Renders a template from templates/email and sends it through the configured transport. Called from
/// Hangfire jobs only. A refusal or a lost connection throws, so Hangfire retries the job and the
/// dashboard shows the failure: a confirmation is never silently dropped.
/// </summary>
public sealed class TransactionalMail(TemplateRenderer templates, IMailTransport transport, MailOptions mail, IOptions<SiteOptions> site, IOptions<SendingOptions> sending)
{
    /// <summary>
    /// Mail about an author's account (a reset or invitation link). With the pickup transport it goes to a
    /// folder of its own that the Outbox never lists (<see cref="MailOptions.AccountPickupFolder"/>): a
    /// co-author reading the Outbox must not find the owner's reset link.
    /// </summary>
    public Task SendToAuthorAsync(string template, string toEmail, string? toName, IDictionary<string, object?> model, CancellationToken ct) =>
        SendCoreAsync(template, toEmail, toName, model, null, mail.UsesPickup ? new PickupTransport(mail.AccountPickupFolder) : transport, null, ct);

    /// <summary>
    /// To a reader; <paramref name="list"/> (List-Unsubscribe, List-Id and "why you get this") only when they are
    /// one. <paramref name="messageId"/> is the email's own stable id when a retry may send it again; a new one
    /// is made when null.
    /// </summary>
    public Task SendToSubscriberAsync(string template, string toEmail, string? toName, IDictionary<string, object?> model, ListHeaders? list, string? messageId, CancellationToken ct) =>
        SendCoreAsync(template, toEmail, toName, model, list, transport, messageId, ct);

    private async Task SendCoreAsync(string template, string toEmail, string? toName, IDictionary<string, object?> model, ListHeaders? list, IMailTransport via, string? messageId, CancellationToken ct)
    {
        var all = TemplateModel.Base(site.Value);
        all["expires_days"] = 7;
        foreach (var (k, v) in model)
        {
            all[k] = v;
        }

        if (list is not null)
        {
            all["why"] = $"You get this because {toEmail} is on the list of {site.Value.Title}.";
        }

        var rendered = templates.Render(template, all);
        var message = MessageFactory.Build(new OutgoingMessage
        {
            ToAddress = toEmail,
            ToName = toName,
            Subject = rendered.Subject,
            Html = rendered.Html,
            Text = rendered.Text,
            ListUnsubscribeUrl = list?.UnsubscribeUrl,
            ListUnsubscribeMailto = list is null ? null : $"mailto:{mail.FromAddress}?subject=unsubscribe%20{Uri.EscapeDataString(list.ManageToken)}",
            ListId = list is null ? null : $"{site.Value.Title} <{sending.Value.ListId}>",
            MessageId = messageId,
        }, mail);
        var result = await via.SendAsync(message, null, ct);
        if (result.Outcome != SendOutcome.Sent)
        {
            throw new MailNotSentException($"'{template}' to {toEmail} was not sent: {result.Outcome} {result.StatusCode} {result.Reply}", result);
        }
    }
}

/// <summary>The server did not take the message; Result, when known, says whether trying again can help.</summary>
public sealed class MailNotSentException(string message, SendResult? result = null) : Exception(message)
{
    public SendResult? Result { get; } = result;
}

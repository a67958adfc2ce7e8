using Microsoft.Extensions.Logging;
using MimeKit;

namespace Newsletter.Mail;

/// <summary>Delivers messages. Chosen by configuration: SMTP, or a pickup folder for development.</summary>
public interface IMailTransport : IAsyncDisposable
{
    /// <summary>Sends one message on a pooled connection. Never throws for an SMTP reply or a lost connection: the result says what happened.</summary>
    /// <param name="message">The message; its To, Cc and Bcc mailboxes are the envelope recipients.</param>
    /// <param name="envelopeFrom">MAIL FROM (e.g. a VERP bounce address); the message's From address when null.</param>
    /// <param name="ct">Cancels the send; the connection is then discarded, since its state is unknown.</param>
    Task<SendResult> SendAsync(MimeMessage message, MailboxAddress? envelopeFrom, CancellationToken ct);

    /// <summary>Takes one pooled connection for a batch; disposing the session returns it to the pool (or closes it if broken).</summary>
    Task<IMailSession> OpenSessionAsync(CancellationToken ct);

    /// <summary>
    /// The same for a caller on a thread of its own, which then uses <see cref="IMailSession.Send"/>: a bulk
    /// sender's dedicated worker thread spends a quarter less CPU per message on MailKit's synchronous API.
    /// </summary>
    IMailSession OpenSession();

    /// <summary>
    /// Whether the relay takes a connection now (connect, greeting, authentication, NOOP), without sending. Throws
    /// when it doesn't. A node whose relay failed asks this while nothing is sending, so the alarm ends when the
    /// relay is back rather than at the next message, which a paused send never makes.
    /// </summary>
    Task ProbeAsync(CancellationToken ct) => Task.CompletedTask;
}

/// <summary>One connection, used for a batch of messages in sequence (not concurrently).</summary>
public interface IMailSession : IAsyncDisposable, IDisposable
{
    /// <summary>
    /// <see cref="SendAsync"/> for a caller on a dedicated thread: it blocks that thread for the SMTP
    /// conversation. Never call it from the thread pool.
    /// </summary>
    /// <param name="message">The message; its To, Cc and Bcc mailboxes are the envelope recipients.</param>
    /// <param name="envelopeFrom">MAIL FROM (e.g. a VERP bounce address); the message's From address when null.</param>
    /// <param name="ct">Cancels the send.</param>
    SendResult Send(MimeMessage message, MailboxAddress? envelopeFrom, CancellationToken ct);

    /// <summary>
    /// Sends one message. Never throws for an SMTP reply or a lost connection: the result says what
    /// happened. After <see cref="SendOutcome.ConnectionLost"/> the next call opens a new connection.
    /// </summary>
    /// <param name="message">The message; its To, Cc and Bcc mailboxes are the envelope recipients.</param>
    /// <param name="envelopeFrom">MAIL FROM (e.g. a VERP bounce address); the message's From address when null.</param>
    /// <param name="ct">Cancels the send.</param>
    Task<SendResult> SendAsync(MimeMessage message, MailboxAddress? envelopeFrom, CancellationToken ct);
}

/// <summary>
/// Writes each message as an .eml file into a folder: the default transport, so the app runs with nothing
/// installed, and the admin's Outbox page (<see cref="OutboxReader"/>) shows what would have been sent.
/// </summary>
/// <remarks>
/// Each file is written under a hidden temporary name and then renamed, so a reader never sees half a
/// message. Names sort by time (<c>yyyyMMdd-HHmmss-fffffff-guid.eml</c>). The file starts with a
/// Return-Path header holding the envelope sender, as a receiving server would write it; the message
/// itself never carries one (see <see cref="MessageFactory"/>). A disk error is thrown, not reported as
/// a result: it is a fault of this machine, not of the recipient.
/// </remarks>
public sealed class PickupTransport : IMailTransport, IMailSession
{
    // .eml files use the wire's CRLF line ends, whatever the platform's default.
    private static readonly FormatOptions CrLf = CreateFormat();

    private readonly string _folder;

    /// <summary>Creates the transport; the folder is created if missing.</summary>
    public PickupTransport(string folder)
    {
        if (string.IsNullOrWhiteSpace(folder))
        {
            throw new ArgumentException("The pickup folder (Mail:PickupFolder) is not set.", nameof(folder));
        }

        _folder = folder;
        Directory.CreateDirectory(folder);
    }

    /// <summary>The folder messages are written to.</summary>
    public string Folder => _folder;

    /// <inheritdoc cref="IMailTransport.SendAsync" />
    public async Task<SendResult> SendAsync(MimeMessage message, MailboxAddress? envelopeFrom, CancellationToken ct)
    {
        var (sender, name, temp) = Begin(message, envelopeFrom);
        try
        {
            await using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, useAsync: true))
            {
                await stream.WriteAsync(ReturnPath(sender), ct);
                await message.WriteToAsync(CrLf, stream, ct);
            }

            return Finish(name, temp);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <inheritdoc />
    public SendResult Send(MimeMessage message, MailboxAddress? envelopeFrom, CancellationToken ct)
    {
        var (sender, name, temp) = Begin(message, envelopeFrom);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024))
            {
                stream.Write(ReturnPath(sender));
                message.WriteTo(CrLf, stream, ct);
            }

            return Finish(name, temp);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <inheritdoc />
    public IMailSession OpenSession() => this;

    /// <inheritdoc />
    public void Dispose()
    {
        // Nothing is held open between messages.
    }

    private (MailboxAddress Sender, string Name, string Temp) Begin(MimeMessage message, MailboxAddress? envelopeFrom)
    {
        ArgumentNullException.ThrowIfNull(message);
        var sender = envelopeFrom ?? message.From.Mailboxes.FirstOrDefault()
            ?? throw new ArgumentException("The message has no From address and no envelope sender was given.", nameof(message));
        var name = $"{DateTime.UtcNow:yyyyMMdd-HHmmss-fffffff}-{Guid.NewGuid():N}.eml";
        return (sender, name, Path.Combine(_folder, "." + name + ".tmp"));
    }

    private static byte[] ReturnPath(MailboxAddress sender) => System.Text.Encoding.UTF8.GetBytes($"Return-Path: <{sender.Address}>\r\n");

    private SendResult Finish(string name, string temp)
    {
        File.Move(temp, Path.Combine(_folder, name));
        return new SendResult(SendOutcome.Sent, 250, "2.0.0", "written to " + name);
    }

    /// <inheritdoc />
    public Task<IMailSession> OpenSessionAsync(CancellationToken ct) => Task.FromResult<IMailSession>(this);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static FormatOptions CreateFormat()
    {
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        return format;
    }
}

/// <summary>Picks the transport named by <see cref="MailOptions.Transport"/>, wrapped in DKIM signing when enabled.</summary>
public static class MailTransportFactory
{
    /// <summary>Creates the configured transport.</summary>
    /// <exception cref="InvalidOperationException">The transport name is unknown or the DKIM settings are incomplete.</exception>
    public static IMailTransport Create(MailOptions options, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggers);
        IMailTransport transport = options.Transport.Trim().ToLowerInvariant() switch
        {
            "pickup" => new PickupTransport(options.PickupFolder),
            "smtp" => new SmtpTransport(options.Smtp, loggers.CreateLogger<SmtpTransport>()),
            _ => throw new SettingsException($"Mail:Transport '{options.Transport}' is not 'Pickup' or 'Smtp'."),
        };
        if (!options.Dkim.Enabled)
        {
            return transport;
        }

        var signer = DkimMessageSigner.Create(options.Dkim);
        loggers.CreateLogger(typeof(MailTransportFactory)).LogInformation(
            "Signing outgoing mail with DKIM: d={Domain} s={Selector}", options.Dkim.Domain, options.Dkim.Selector);
        return new DkimSigningTransport(transport, signer);
    }
}

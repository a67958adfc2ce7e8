using Microsoft.Extensions.Logging;
using MimeKit;

namespace Newsletter.Mail;

/// <summary>Delivers messages. Chosen by configuration: SMTP, or a pickup folder for development.</summary>
public interface IMailTransport : IAsyncDisposable
{
    /// <summary>Sends one message on a pooled connection.</summary>
    Task<SendResult> SendAsync(MimeMessage message, MailboxAddress? envelopeFrom, CancellationToken ct);

    /// <summary>Holds one pooled connection for a batch; dispose returns it to the pool.</summary>
    Task<IMailSession> OpenSessionAsync(CancellationToken ct);
}

/// <summary>One connection, used for a batch of messages in sequence.</summary>
public interface IMailSession : IAsyncDisposable
{
    /// <summary>Sends one message. Never throws for SMTP replies or lost connections: the result says what happened.</summary>
    Task<SendResult> SendAsync(MimeMessage message, MailboxAddress? envelopeFrom, CancellationToken ct);
}

/// <summary>Writes each message as an .eml file: the default transport, so the app runs with nothing installed.</summary>
public sealed class PickupTransport : IMailTransport, IMailSession
{
    private readonly string _folder;

    /// <summary>Creates the transport; the folder is created if missing.</summary>
    public PickupTransport(string folder)
    {
        _folder = folder;
        Directory.CreateDirectory(folder);
    }

    /// <inheritdoc />
    public async Task<SendResult> SendAsync(MimeMessage message, MailboxAddress? envelopeFrom, CancellationToken ct)
    {
        // Written under a temporary name and renamed, so a reader never sees half a message.
        var name = $"{DateTime.UtcNow:yyyyMMdd-HHmmss-fffffff}-{Guid.NewGuid():N}.eml";
        var temp = Path.Combine(_folder, "." + name + ".tmp");
        await using (var stream = File.Create(temp))
        {
            await message.WriteToAsync(stream, ct);
        }

        File.Move(temp, Path.Combine(_folder, name));
        return SendResult.Ok;
    }

    /// <inheritdoc />
    public Task<IMailSession> OpenSessionAsync(CancellationToken ct) => Task.FromResult<IMailSession>(this);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>Picks the transport named by <see cref="MailOptions.Transport"/>.</summary>
public static class MailTransportFactory
{
    /// <summary>Creates the configured transport.</summary>
    public static IMailTransport Create(MailOptions options, ILoggerFactory loggers) => options.Transport.ToLowerInvariant() switch
    {
        "pickup" => new PickupTransport(options.PickupFolder),
        "smtp" => new SmtpTransport(options.Smtp, loggers.CreateLogger<SmtpTransport>()),
        _ => throw new InvalidOperationException($"Mail:Transport '{options.Transport}' is not 'Pickup' or 'Smtp'."),
    };
}

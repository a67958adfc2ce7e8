using System.Collections.Concurrent;
using System.Net.Sockets;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Newsletter.Mail;

/// <summary>
/// SMTP through MailKit with a pool of open connections. Each connection's socket is created here with
/// TCP_NODELAY set before MailKit gets it: without it, Nagle's algorithm holds back the small final
/// packet of each command until the server's delayed ACK (about 40 ms), which caps a connection at
/// roughly 25 messages a second.
/// </summary>
public sealed class SmtpTransport : IMailTransport
{
    private readonly SmtpOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentBag<PooledClient> _idle = [];
    private bool _warnedAboutCertificates;

    /// <summary>Creates the transport; no connection is opened until the first message.</summary>
    public SmtpTransport(SmtpOptions options, ILogger<SmtpTransport> logger)
    {
        _options = options;
        _logger = logger;
    }

    /// <summary>Connections opened so far (for tests and metrics).</summary>
    public int ConnectionsOpened => _connectionsOpened;

    private int _connectionsOpened;

    /// <inheritdoc />
    public async Task<SendResult> SendAsync(MimeMessage message, MailboxAddress? envelopeFrom, CancellationToken ct)
    {
        await using var session = await OpenSessionAsync(ct);
        return await session.SendAsync(message, envelopeFrom, ct);
    }

    /// <inheritdoc />
    public Task<IMailSession> OpenSessionAsync(CancellationToken ct) => Task.FromResult<IMailSession>(new Session(this));

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        while (_idle.TryTake(out var pooled))
        {
            await pooled.CloseAsync();
        }
    }

    private async Task<PooledClient> RentAsync(CancellationToken ct)
    {
        while (_idle.TryTake(out var pooled))
        {
            if (pooled.Client.IsConnected && DateTime.UtcNow - pooled.LastUsed < _options.IdleTimeout)
            {
                return pooled;
            }

            await pooled.CloseAsync();
        }

        return await ConnectAsync(ct);
    }

    private async Task ReturnAsync(PooledClient pooled)
    {
        if (pooled.Broken || !pooled.Client.IsConnected || _idle.Count >= Math.Max(1, _options.PoolSize))
        {
            await pooled.CloseAsync();
            return;
        }

        pooled.LastUsed = DateTime.UtcNow;
        _idle.Add(pooled);
    }

    private async Task<PooledClient> ConnectAsync(CancellationToken ct)
    {
        var client = new SmtpClient();
        if (!string.IsNullOrEmpty(_options.LocalDomain))
        {
            client.LocalDomain = _options.LocalDomain;
        }

        if (_options.AllowInvalidCertificates)
        {
            if (!_warnedAboutCertificates)
            {
                _logger.LogWarning("Mail:Smtp:AllowInvalidCertificates is on: the certificate of {Host} is not checked. Use this only with a development server.", _options.Host);
                _warnedAboutCertificates = true;
            }

            client.ServerCertificateValidationCallback = (_, _, _, _) => true;
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(_options.Host, _options.Port, ct);
            await client.ConnectAsync(socket, _options.Host, _options.Port, SecurityFor(_options), ct);
            if (!string.IsNullOrEmpty(_options.UserName))
            {
                await client.AuthenticateAsync(_options.UserName, _options.Password, ct);
            }
        }
        catch
        {
            client.Dispose();
            socket.Dispose();
            throw;
        }

        Interlocked.Increment(ref _connectionsOpened);
        return new PooledClient(client, socket);
    }

    /// <summary>Matches TLS to the port unless configured: 465 is TLS on connect, 587 is STARTTLS.</summary>
    public static SecureSocketOptions SecurityFor(SmtpOptions options) => options.Security.ToLowerInvariant() switch
    {
        "none" => SecureSocketOptions.None,
        "starttls" => SecureSocketOptions.StartTls,
        "sslonconnect" or "tls" => SecureSocketOptions.SslOnConnect,
        "starttlswhenavailable" => SecureSocketOptions.StartTlsWhenAvailable,
        _ => options.Port switch
        {
            465 => SecureSocketOptions.SslOnConnect,
            587 => SecureSocketOptions.StartTls,
            _ => SecureSocketOptions.StartTlsWhenAvailable,
        },
    };

    private sealed class PooledClient(SmtpClient client, Socket socket)
    {
        public SmtpClient Client { get; } = client;

        public Socket Socket { get; } = socket;

        public DateTime LastUsed { get; set; } = DateTime.UtcNow;

        public bool Broken { get; set; }

        public async Task CloseAsync()
        {
            try
            {
                if (Client.IsConnected)
                {
                    await Client.DisconnectAsync(quit: true);
                }
            }
            catch (Exception e) when (e is IOException or SocketException or SmtpProtocolException or ServiceNotConnectedException or OperationCanceledException)
            {
                // closing a connection that is already gone
            }

            Client.Dispose();
            Socket.Dispose();
        }
    }

    private sealed class Session(SmtpTransport transport) : IMailSession
    {
        private PooledClient? _client;

        public async Task<SendResult> SendAsync(MimeMessage message, MailboxAddress? envelopeFrom, CancellationToken ct)
        {
            try
            {
                _client ??= await transport.RentAsync(ct);
            }
            catch (Exception e) when (e is IOException or SocketException or SmtpProtocolException or SslHandshakeException or SmtpCommandException or AuthenticationException)
            {
                return new SendResult(SendOutcome.ConnectionLost, null, null, "could not connect: " + e.Message);
            }

            var sender = envelopeFrom ?? message.From.Mailboxes.First();
            var recipients = message.To.Mailboxes.ToList();
            try
            {
                var reply = await _client.Client.SendAsync(message, sender, recipients, ct);
                return new SendResult(SendOutcome.Sent, 250, null, reply);
            }
            catch (SmtpCommandException e)
            {
                var result = SendResult.FromReply((int)e.StatusCode, e.Message);
                if ((int)e.StatusCode == 421)
                {
                    // "Service closing": the server is about to drop us; don't reuse this connection.
                    _client.Broken = true;
                    await DropAsync();
                }

                return result;
            }
            catch (Exception e) when (e is IOException or SocketException or SmtpProtocolException or ServiceNotConnectedException)
            {
                await DropAsync();
                return new SendResult(SendOutcome.ConnectionLost, null, null, e.Message);
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_client is not null)
            {
                await transport.ReturnAsync(_client);
                _client = null;
            }
        }

        private async Task DropAsync()
        {
            if (_client is not null)
            {
                _client.Broken = true;
                await _client.CloseAsync();
                _client = null;
            }
        }
    }
}

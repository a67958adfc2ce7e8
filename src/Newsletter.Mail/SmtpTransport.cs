using System.Net;
using System.Net.Sockets;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Newsletter.Mail;

/// <summary>
/// SMTP through MailKit with a pool of open connections, reused across messages and batches.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>TCP_NODELAY: each connection's socket is created and connected here, with Nagle's algorithm off,
/// and handed to MailKit. Otherwise the small last packet of each command waits for the server's delayed
/// ACK (about 40 ms on Linux), which caps a connection at roughly 25 messages a second.</item>
/// <item>Pooling: a session takes an idle connection (the most recently used first) or opens one; disposing
/// the session returns it. A connection idle longer than <see cref="SmtpOptions.IdleTimeout"/> is closed,
/// one idle for more than 2 seconds is checked with NOOP before reuse. At most
/// <see cref="SmtpOptions.PoolSize"/> idle connections are kept; idle ones are closed when next looked at
/// or when the transport is disposed.</item>
/// <item>Errors: a reply is a result (4xx deferred, 5xx failed) and the connection stays usable (MailKit
/// sends RSET); a 421 or any socket, stream or protocol failure discards the connection and the result is
/// <see cref="SendOutcome.ConnectionLost"/>; the session's next send opens a new one.</item>
/// <item>TLS: <see cref="SecurityFor"/> matches the port unless configured. Certificates are validated
/// unless <see cref="SmtpOptions.AllowInvalidCertificates"/> says otherwise, which is logged as a warning.</item>
/// </list>
/// </remarks>
public sealed class SmtpTransport : IMailTransport
{

    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(30);

    private readonly SmtpOptions _options;
    private readonly ILogger _logger;
    private readonly Stack<Connection> _idle = new();
    private readonly Lock _gate = new();
    private int _connectionsOpened;
    private int _warnedAboutCertificates;
    private int _warnedAboutPlainTextAuth;
    private bool _disposed;

    /// <summary>Creates the transport; no connection is opened until the first message.</summary>
    public SmtpTransport(SmtpOptions options, ILogger<SmtpTransport> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.Host) || options.Port is <= 0 or > 65535)
        {
            throw new ArgumentException($"Mail:Smtp needs a Host and a Port between 1 and 65535 (got '{options.Host}':{options.Port}).", nameof(options));
        }

        _options = options;
        _logger = logger;
        _ = SecurityFor(options);
    }

    /// <summary>A pooled connection idle longer than this is checked with NOOP before reuse (settable for tests).</summary>
    internal TimeSpan NoopAfter { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Connections opened so far (for tests and metrics).</summary>
    public int ConnectionsOpened => Volatile.Read(ref _connectionsOpened);

    /// <summary>Idle connections in the pool right now.</summary>
    public int IdleConnections
    {
        get
        {
            lock (_gate)
            {
                return _idle.Count;
            }
        }
    }

    /// <summary>Matches TLS to the port unless configured: 465 is TLS on connect, 587 STARTTLS, others STARTTLS when offered.</summary>
    /// <exception cref="ArgumentException">The Security setting is not one of Auto, None, StartTls, SslOnConnect, StartTlsWhenAvailable.</exception>
    public static SecureSocketOptions SecurityFor(SmtpOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return (options.Security ?? "").Trim().ToLowerInvariant() switch
        {
            "" or "auto" => options.Port switch
            {
                465 => SecureSocketOptions.SslOnConnect,
                587 => SecureSocketOptions.StartTls,
                _ => SecureSocketOptions.StartTlsWhenAvailable,
            },
            "none" => SecureSocketOptions.None,
            "starttls" => SecureSocketOptions.StartTls,
            "sslonconnect" or "tls" => SecureSocketOptions.SslOnConnect,
            "starttlswhenavailable" => SecureSocketOptions.StartTlsWhenAvailable,
            _ => throw new ArgumentException($"Mail:Smtp:Security '{options.Security}' is not Auto, None, StartTls, SslOnConnect or StartTlsWhenAvailable.", nameof(options)),
        };
    }

    /// <inheritdoc />
    public async Task<SendResult> SendAsync(MimeMessage message, MailboxAddress? envelopeFrom, CancellationToken ct)
    {
        await using var session = await OpenSessionAsync(ct);
        return await session.SendAsync(message, envelopeFrom, ct);
    }

    /// <inheritdoc />
    public Task<IMailSession> OpenSessionAsync(CancellationToken ct) => Task.FromResult(OpenSession());

    /// <inheritdoc />
    public async Task ProbeAsync(CancellationToken ct)
    {
        var connection = await RentAsync(ct);
        try
        {
            await connection.Client.NoOpAsync(ct);
        }
        catch
        {
            await connection.CloseAsync();
            throw;
        }

        await ReturnAsync(connection);
    }

    /// <inheritdoc />
    public IMailSession OpenSession()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new SmtpSession(this);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        List<Connection> idle;
        lock (_gate)
        {
            _disposed = true;
            idle = [.. _idle];
            _idle.Clear();
        }

        foreach (var connection in idle)
        {
            await connection.CloseAsync();
        }
    }

    /// <summary>An idle connection that still answers, or a new one.</summary>
    internal async Task<Connection> RentAsync(CancellationToken ct)
    {
        while (true)
        {
            var (pooled, check) = TakeIdle();
            if (pooled is null)
            {
                return await ConnectAsync(ct);
            }

            if (check == IdleCheck.Stale)
            {
                await pooled.CloseAsync();
                continue;
            }

            if (check == IdleCheck.Fresh)
            {
                return pooled;
            }

            try
            {
                await pooled.Client.NoOpAsync(ct);
                return pooled;
            }
            catch (Exception e) when (SendResult.IsConnectionFailure(e) || e is SmtpCommandException)
            {
                NoopFailed(pooled, e);
                await pooled.CloseAsync();
            }
        }
    }

    /// <summary><see cref="RentAsync"/> for a caller on a thread of its own.</summary>
    internal Connection Rent(CancellationToken ct)
    {
        while (true)
        {
            var (pooled, check) = TakeIdle();
            if (pooled is null)
            {
                return Connect(ct);
            }

            if (check == IdleCheck.Stale)
            {
                pooled.Close();
                continue;
            }

            if (check == IdleCheck.Fresh)
            {
                return pooled;
            }

            try
            {
                pooled.Client.NoOp(NoToken(ct));
                return pooled;
            }
            catch (Exception e) when (SendResult.IsConnectionFailure(e) || e is SmtpCommandException)
            {
                NoopFailed(pooled, e);
                pooled.Close();
            }
        }
    }

    private enum IdleCheck
    {
        Fresh,
        NeedsNoop,
        Stale,
    }

    private (Connection? Connection, IdleCheck Check) TakeIdle()
    {
        Connection? pooled;
        lock (_gate)
        {
            _idle.TryPop(out pooled);
        }

        if (pooled is null)
        {
            return (null, IdleCheck.Fresh);
        }

        var idleFor = DateTime.UtcNow - pooled.LastUsed;
        return (pooled, !pooled.Client.IsConnected || idleFor >= _options.IdleTimeout ? IdleCheck.Stale : idleFor < NoopAfter ? IdleCheck.Fresh : IdleCheck.NeedsNoop);
    }

    // The server timed us out or went away while the connection sat in the pool.
    private void NoopFailed(Connection pooled, Exception e) =>
        _logger.LogDebug("A pooled SMTP connection to {Host}:{Port} failed NOOP after {Idle}; opening another: {Error}", _options.Host, _options.Port, DateTime.UtcNow - pooled.LastUsed, e.Message);

    /// <summary>Puts a healthy connection back in the pool, or closes it.</summary>
    internal async Task ReturnAsync(Connection connection)
    {
        if (!TryPool(connection))
        {
            await connection.CloseAsync();
        }
    }

    internal void Return(Connection connection)
    {
        if (!TryPool(connection))
        {
            connection.Close();
        }
    }

    private bool TryPool(Connection connection)
    {
        if (!connection.Client.IsConnected)
        {
            return false;
        }

        connection.LastUsed = DateTime.UtcNow;
        lock (_gate)
        {
            if (!_disposed && _idle.Count < Math.Max(1, _options.PoolSize))
            {
                _idle.Push(connection);
                return true;
            }
        }

        return false;
    }

    private async Task<Connection> ConnectAsync(CancellationToken ct)
    {
        var client = CreateClient();
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await ConnectSocketAsync(socket, ct);
            await client.ConnectAsync(socket, _options.Host, _options.Port, SecurityFor(_options), ct);
            if (MayAuthenticate(client))
            {
                await client.AuthenticateAsync(_options.UserName, _options.Password, ct);
            }
        }
        catch
        {
            client.Dispose();
            socket?.Dispose();
            throw;
        }

        return Opened(client, socket);
    }

    /// <summary>
    /// The token for MailKit's synchronous calls: none. Given a token that can be cancelled, MailKit waits for a
    /// reply by polling the socket until the token fires, and the socket's receive timeout (Timeout) never
    /// applies: a frozen relay then held a send worker for as long as the process lived. Without one, every
    /// command ends within Timeout. Cancellation is checked before each message instead.
    /// </summary>
    private static CancellationToken NoToken(CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        return CancellationToken.None;
    }

    private Connection Connect(CancellationToken ct)
    {
        var client = CreateClient();
        Socket? socket = null;
        try
        {
            // Not ConnectAsync: on Linux a socket used once asynchronously stays with the async engine, and every
            // later synchronous read and write is emulated through its event thread and the thread pool, which
            // cost a fifth of the CPU per message in the s1 benchmark.
            socket = ConnectSocket(ct);
            // Past the connect, MailKit's synchronous calls get no token (see NoToken): only then do they keep
            // to Timeout, so a relay that accepts and then says nothing cannot hold a worker for ever.
            client.Connect(socket, _options.Host, _options.Port, SecurityFor(_options), NoToken(ct));
            if (MayAuthenticate(client))
            {
                client.Authenticate(_options.UserName, _options.Password, NoToken(ct));
            }
        }
        catch
        {
            client.Dispose();
            socket?.Dispose();
            throw;
        }

        return Opened(client, socket);
    }

    /// <summary>
    /// Whether to log in, checked after the connection's TLS is settled: never over plain text unless
    /// <see cref="SmtpOptions.AllowPlainTextAuth"/> says so. "Auto" on port 25 takes STARTTLS only when offered,
    /// so a server (or a man in the middle) that offers AUTH without STARTTLS would otherwise get the password.
    /// </summary>
    /// <exception cref="AuthenticationException">A user name is set and the connection is not encrypted.</exception>
    private bool MayAuthenticate(SmtpClient client)
    {
        if (string.IsNullOrEmpty(_options.UserName))
        {
            return false;
        }

        if (client.IsSecure)
        {
            return true;
        }

        if (!_options.AllowPlainTextAuth)
        {
            throw new AuthenticationException($"{_options.Host}:{_options.Port} offered no TLS, so the SMTP password was not sent. Use a server with STARTTLS or TLS (Mail:Smtp:Security), or set Mail:Smtp:AllowPlainTextAuth=true to send it in clear text.");
        }

        if (Interlocked.Exchange(ref _warnedAboutPlainTextAuth, 1) == 0)
        {
            _logger.LogWarning("Mail:Smtp:AllowPlainTextAuth is on: the SMTP password goes to {Host} in clear text, readable by anyone on the path.", _options.Host);
        }

        return true;
    }

    private SmtpClient CreateClient()
    {
        var client = new TrackingSmtpClient { Timeout = (int)Math.Clamp(_options.Timeout.TotalMilliseconds, 1000, int.MaxValue) };
        if (!string.IsNullOrEmpty(_options.LocalDomain))
        {
            client.LocalDomain = _options.LocalDomain;
        }

        if (_options.AllowInvalidCertificates)
        {
            if (Interlocked.Exchange(ref _warnedAboutCertificates, 1) == 0)
            {
                _logger.LogWarning("Mail:Smtp:AllowInvalidCertificates is on: the certificate of {Host} is not checked, so anyone on the path can read and change mail. Use this only with a development server.", _options.Host);
            }

            client.ServerCertificateValidationCallback = (_, _, _, _) => true;
        }

        return client;
    }

    /// <summary>
    /// A blocking socket, connected within <see cref="ConnectTimeout"/> unless <paramref name="ct"/> ends first, that
    /// never meets the async engine (see <see cref="ConnectBlocking"/>). Each of the host's
    /// addresses is tried in turn, as <see cref="Socket.ConnectAsync(string, int, CancellationToken)"/> would.
    /// </summary>
    private Socket ConnectSocket(CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + ConnectTimeout;
        SocketException? last = null;
        foreach (var address in Dns.GetHostAddresses(_options.Host))
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                ConnectBlocking(socket, new IPEndPoint(address, _options.Port), deadline, ct);
                return socket;
            }
            catch (SocketException e) when (e.SocketErrorCode != SocketError.TimedOut)
            {
                socket.Dispose();
                last = e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw last ?? new SocketException((int)SocketError.HostNotFound);
    }

    /// <summary>
    /// A blocking connect, cut short by closing the socket when the deadline passes or <paramref name="ct"/> ends
    /// (on Linux .NET aborts a blocking connect on close by disconnecting it first, so the call returns at once).
    /// Not a non-blocking connect that is then polled: setting <see cref="Socket.Blocking"/> to false even for a
    /// moment puts the descriptor into non-blocking mode for good (.NET never turns it back), and then every
    /// synchronous read that finds no reply yet waits for the socket engine's epoll thread to wake it, a thread
    /// hand-over per SMTP reply that cost 7 % of the app's CPU in the s1 benchmark.
    /// </summary>
    private static void ConnectBlocking(Socket socket, IPEndPoint endpoint, DateTime deadline, CancellationToken ct)
    {
        const int Connecting = 0, Connected = 1, TimedOut = 2, Cancelled = 3;
        var state = Connecting;
        void Abort(int reason)
        {
            if (Interlocked.CompareExchange(ref state, reason, Connecting) == Connecting)
            {
                socket.Dispose();
            }
        }

        var left = deadline - DateTime.UtcNow;
        using var timer = new Timer(_ => Abort(TimedOut), null, left > TimeSpan.Zero ? left : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        using var cancel = ct.UnsafeRegister(_ => Abort(Cancelled), null);
        try
        {
            socket.Connect(endpoint);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException && Volatile.Read(ref state) != Connecting)
        {
            // Closed under the connect by the timer or the token: said below.
        }

        switch (Interlocked.CompareExchange(ref state, Connected, Connecting))
        {
            case Cancelled:
                throw new OperationCanceledException(ct);
            case TimedOut:
                throw new SocketException((int)SocketError.TimedOut);
        }
    }

    private async Task ConnectSocketAsync(Socket socket, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ConnectTimeout);
        try
        {
            await socket.ConnectAsync(_options.Host, _options.Port, timeout.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new SocketException((int)SocketError.TimedOut);
        }
    }

    private Connection Opened(SmtpClient client, Socket socket)
    {
        Interlocked.Increment(ref _connectionsOpened);
        _logger.LogDebug("Opened SMTP connection to {Host}:{Port} ({Capabilities})", _options.Host, _options.Port, client.Capabilities);
        return new Connection(client, socket);
    }

    /// <summary>
    /// MailKit's client, told when the server accepts a recipient: from then on the message can reach the
    /// server's queue, so a connection lost before the final reply may have delivered it.
    /// </summary>
    internal sealed class TrackingSmtpClient : SmtpClient
    {
        public bool RecipientAccepted { get; set; }

        /// <summary>The size of the message about to be sent, when its signer counted it; -1 when not known.</summary>
        public long KnownSize { get; set; } = -1;

        protected override long GetSize(FormatOptions options, MimeMessage message, CancellationToken cancellationToken) =>
            KnownSize >= 0 ? KnownSize : base.GetSize(options, message, cancellationToken);

        protected override void OnRecipientAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response)
        {
            RecipientAccepted = true;
            base.OnRecipientAccepted(message, mailbox, response);
        }
    }

    /// <summary>A MailKit client on a socket of ours.</summary>
    internal sealed class Connection(SmtpClient client, Socket socket)
    {
        public SmtpClient Client { get; } = client;

        /// <summary>
        /// Starts a message: nothing of it has reached the server yet. A signer signs it now, for the encodings this
        /// server takes (8bit parts stay 8bit where it offers 8BITMIME), and tells its size, which MailKit would
        /// otherwise write the whole message out once more to count for SIZE=.
        /// </summary>
        public void BeginMessage(MimeMessage message, Func<MimeMessage, EncodingConstraint, long>? sign)
        {
            var tracking = Client as TrackingSmtpClient;
            if (tracking is not null)
            {
                tracking.RecipientAccepted = false;
                tracking.KnownSize = -1;
            }

            if (sign is not null)
            {
                var size = sign(message, (Client.Capabilities & SmtpCapabilities.EightBitMime) != 0 ? EncodingConstraint.EightBit : EncodingConstraint.SevenBit);
                if (tracking is not null)
                {
                    tracking.KnownSize = size;
                }
            }
        }

        /// <summary>Whether the message under way may have been stored by the server (see <see cref="SendResult.MayHaveBeenDelivered"/>).</summary>
        public bool MessageMayHaveArrived => Client is not TrackingSmtpClient tracking || tracking.RecipientAccepted;

        public Socket Socket { get; } = socket;

        public DateTime LastUsed { get; set; } = DateTime.UtcNow;

        public async Task CloseAsync()
        {
            try
            {
                if (Client.IsConnected)
                {
                    using var quit = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                    await Client.DisconnectAsync(quit: true, quit.Token);
                }
            }
            catch (Exception e) when (IsGoneAlready(e))
            {
                // Saying QUIT on a connection that is already gone: nothing is lost.
            }

            Client.Dispose();
            Socket.Dispose();
        }

        public void Close()
        {
            try
            {
                if (Client.IsConnected)
                {
                    using var quit = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                    Client.Disconnect(quit: true, quit.Token);
                }
            }
            catch (Exception e) when (IsGoneAlready(e))
            {
                // As in CloseAsync.
            }

            Client.Dispose();
            Socket.Dispose();
        }

        private static bool IsGoneAlready(Exception e) => SendResult.IsConnectionFailure(e) || e is SmtpCommandException or OperationCanceledException;
    }

    /// <summary>One connection for a batch. Not for concurrent use.</summary>
    internal sealed class SmtpSession(SmtpTransport transport) : ISigningSession
    {
        private Connection? _connection;

        /// <summary>The socket of the connection in use, for tests (TCP_NODELAY).</summary>
        internal Socket? Socket => _connection?.Socket;

        public Task<SendResult> SendAsync(MimeMessage message, MailboxAddress? envelopeFrom, CancellationToken ct) => SendAsync(message, envelopeFrom, null, ct);

        public async Task<SendResult> SendAsync(MimeMessage message, MailboxAddress? envelopeFrom, Func<MimeMessage, EncodingConstraint, long>? sign, CancellationToken ct)
        {
            var (sender, recipients) = Envelope(message, envelopeFrom);
            // MailKit's async calls wait on the token, not on Timeout: a deadline of our own keeps a silent relay
            // from holding this message for ever, and ends as a lost connection, not as a cancellation.
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(transport._options.Timeout);
            try
            {
                return await SendWithinAsync(message, sender, recipients, sign, deadline.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return SendResult.ConnectionLost($"no answer from {transport._options.Host}:{transport._options.Port} within {transport._options.Timeout.TotalSeconds:F0} s", _lastMayHaveArrived);
            }
        }

        private bool _lastMayHaveArrived;

        private async Task<SendResult> SendWithinAsync(MimeMessage message, MailboxAddress sender, List<MailboxAddress> recipients, Func<MimeMessage, EncodingConstraint, long>? sign, CancellationToken ct)
        {
            _lastMayHaveArrived = false;
            try
            {
                _connection ??= await transport.RentAsync(ct);
            }
            catch (Exception e) when (IsConnectFailure(e))
            {
                return CouldNotConnect(e);
            }

            var connection = _connection;
            connection.BeginMessage(message, sign);
            try
            {
                return Sent(await connection.Client.SendAsync(message, sender, recipients, ct));
            }
            catch (SmtpCommandException e)
            {
                var result = SendResult.FromReply((int)e.StatusCode, e.Message);
                if (IsClosing(e))
                {
                    await DiscardAsync();
                }

                return result;
            }
            catch (Exception e) when (SendResult.IsConnectionFailure(e))
            {
                await DiscardAsync();
                return SendResult.ConnectionLost(e.Message, connection.MessageMayHaveArrived);
            }
            catch (OperationCanceledException)
            {
                // Stopped mid-command: the connection's state is unknown, so it is not reused.
                _lastMayHaveArrived = connection.MessageMayHaveArrived;
                await DiscardAsync();
                throw;
            }
        }

        public SendResult Send(MimeMessage message, MailboxAddress? envelopeFrom, CancellationToken ct) => Send(message, envelopeFrom, null, ct);

        public SendResult Send(MimeMessage message, MailboxAddress? envelopeFrom, Func<MimeMessage, EncodingConstraint, long>? sign, CancellationToken ct)
        {
            var (sender, recipients) = Envelope(message, envelopeFrom);
            try
            {
                _connection ??= transport.Rent(ct);
            }
            catch (Exception e) when (IsConnectFailure(e))
            {
                return CouldNotConnect(e);
            }

            // The same outcomes as SendAsync, on MailKit's synchronous API.
            var connection = _connection;
            connection.BeginMessage(message, sign);
            try
            {
                return Sent(connection.Client.Send(message, sender, recipients, NoToken(ct)));
            }
            catch (SmtpCommandException e)
            {
                var result = SendResult.FromReply((int)e.StatusCode, e.Message);
                if (IsClosing(e))
                {
                    Discard();
                }

                return result;
            }
            catch (Exception e) when (SendResult.IsConnectionFailure(e))
            {
                Discard();
                return SendResult.ConnectionLost(e.Message, connection.MessageMayHaveArrived);
            }
            catch (OperationCanceledException)
            {
                Discard();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_connection is { } connection)
            {
                _connection = null;
                await transport.ReturnAsync(connection);
            }
        }

        public void Dispose()
        {
            if (_connection is { } connection)
            {
                _connection = null;
                transport.Return(connection);
            }
        }

        private static (MailboxAddress Sender, List<MailboxAddress> Recipients) Envelope(MimeMessage message, MailboxAddress? envelopeFrom)
        {
            ArgumentNullException.ThrowIfNull(message);
            var sender = envelopeFrom ?? message.Sender ?? message.From.Mailboxes.FirstOrDefault()
                ?? throw new ArgumentException("The message has no From address and no envelope sender was given.", nameof(message));
            var recipients = message.To.Mailboxes.Concat(message.Cc.Mailboxes).Concat(message.Bcc.Mailboxes).ToList();
            return recipients.Count == 0 ? throw new ArgumentException("The message has no recipients.", nameof(message)) : (sender, recipients);
        }

        private static bool IsConnectFailure(Exception e) => SendResult.IsConnectionFailure(e) || e is SmtpCommandException or AuthenticationException;

        private SendResult CouldNotConnect(Exception e)
        {
            transport._logger.LogWarning("Could not open an SMTP connection to {Host}:{Port}: {Error}", transport._options.Host, transport._options.Port, e.Message);
            return SendResult.ConnectionLost($"could not connect to {transport._options.Host}:{transport._options.Port}: {e.Message}");
        }

        private static SendResult Sent(string? reply) => new(SendOutcome.Sent, 250, SendResult.FindEnhancedCode(250, reply), reply?.Trim());

        // 421: the server is closing the connection; MailKit's RSET after an error may also have lost it.
        private bool IsClosing(SmtpCommandException e) => e.StatusCode == SmtpStatusCode.ServiceNotAvailable || _connection?.Client.IsConnected != true;

        private async Task DiscardAsync()
        {
            if (_connection is { } connection)
            {
                _connection = null;
                await connection.CloseAsync();
            }
        }

        private void Discard()
        {
            if (_connection is { } connection)
            {
                _connection = null;
                connection.Close();
            }
        }
    }
}

using System.Net;
using System.Net.Sockets;
using MailKit.Security;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using Newsletter.Testing;

namespace Newsletter.Mail.Tests;

public class SmtpTransportTests
{
    internal static SmtpTransport Transport(SmtpServerFixture server, Action<SmtpOptions>? configure = null)
    {
        var options = new SmtpOptions { Host = server.Host, Port = server.Port, Security = "None", PoolSize = 2 };
        configure?.Invoke(options);
        return new SmtpTransport(options, NullLogger<SmtpTransport>.Instance);
    }

    internal static MimeMessage Message(int subscriber = 345, string? to = null) =>
        TestMail.Build(TestMail.Issue(to ?? $"reader{subscriber}@example.org", subscriber));

    private static MailboxAddress Verp(int subscriber) => new("", $"bounce+{subscriber}-ab12cd34@bounces.field-notes.example");

    [Fact]
    public async Task DeliversTheMessageWithItsHeadersAndBothBodies()
    {
        await using var server = await SmtpServerFixture.StartAsync();
        await using var transport = Transport(server);

        var result = await transport.SendAsync(Message(), Verp(345), TestContext.Current.CancellationToken);

        Assert.Equal(SendOutcome.Sent, result.Outcome);
        Assert.Equal(250, result.StatusCode);
        var received = Assert.Single(await server.WaitForMessagesAsync(1));
        var m = received.Message;
        Assert.Equal("issue-12.sub-345@field-notes.example", m.MessageId);
        Assert.Equal("\"Field Notes\" <notes@field-notes.example>", m.From.ToString());
        Assert.Equal("reader345@example.org", m.To.Mailboxes.Single().Address);
        Assert.Equal("Issue 12: Failing visibly", m.Subject);
        Assert.NotNull(m.Headers[HeaderId.Date]);
        Assert.Equal("<https://field-notes.example/unsubscribe/tok345>, <mailto:notes@field-notes.example?subject=unsubscribe%20tok345>", m.Headers["List-Unsubscribe"]);
        Assert.Equal("List-Unsubscribe=One-Click", m.Headers["List-Unsubscribe-Post"]);
        Assert.Equal("Field Notes <field-notes.field-notes.example>", m.Headers["List-Id"]);
        Assert.Equal("bulk", m.Headers["Precedence"]);
        Assert.Equal("Systems should fail visibly.", m.TextBody?.Trim());
        Assert.Contains("<strong>fail visibly</strong>", m.HtmlBody, StringComparison.Ordinal);
        Assert.Null(m.Headers[HeaderId.ReturnPath]);
    }

    [Fact]
    public async Task SendsThePerRecipientVerpAddressAsMailFrom()
    {
        await using var server = await SmtpServerFixture.StartAsync();
        await using var transport = Transport(server);

        await transport.SendAsync(Message(7), Verp(7), TestContext.Current.CancellationToken);
        await transport.SendAsync(Message(8), null, TestContext.Current.CancellationToken);

        var received = await server.WaitForMessagesAsync(2);
        Assert.Equal("bounce+7-ab12cd34@bounces.field-notes.example", received[0].MailFrom);
        Assert.Equal(["reader7@example.org"], received[0].RcptTo);
        Assert.Equal("notes@field-notes.example", received[1].MailFrom);
    }

    [Fact]
    public async Task ReusesOnePooledConnectionForManyMessagesAndSessions()
    {
        await using var server = await SmtpServerFixture.StartAsync();
        await using var transport = Transport(server);
        var ct = TestContext.Current.CancellationToken;

        for (var batch = 0; batch < 3; batch++)
        {
            await using var session = await transport.OpenSessionAsync(ct);
            for (var i = 0; i < 10; i++)
            {
                Assert.Equal(SendOutcome.Sent, (await session.SendAsync(Message((batch * 10) + i), Verp(i), ct)).Outcome);
            }
        }

        await transport.SendAsync(Message(99), null, ct);

        var received = await server.WaitForMessagesAsync(31);
        Assert.Equal(1, server.Sessions);
        Assert.Equal(1, transport.ConnectionsOpened);
        Assert.All(received, r => Assert.Equal(received[0].Session, r.Session));
    }

    [Fact]
    public async Task SetsTcpNoDelayOnThePooledSocket()
    {
        await using var server = await SmtpServerFixture.StartAsync();
        await using var transport = Transport(server);
        await using var session = (SmtpTransport.SmtpSession)await transport.OpenSessionAsync(TestContext.Current.CancellationToken);

        await session.SendAsync(Message(), null, TestContext.Current.CancellationToken);

        var socket = Assert.IsType<Socket>(session.Socket);
        Assert.True(socket.NoDelay);
        Assert.Equal(1, (int)socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.NoDelay)!);
    }

    [Fact]
    public async Task GivesEachConcurrentSessionItsOwnConnectionAndKeepsPoolSizeIdle()
    {
        await using var server = await SmtpServerFixture.StartAsync();
        await using var transport = Transport(server, o => o.PoolSize = 2);
        var ct = TestContext.Current.CancellationToken;

        var sessions = new List<IMailSession>();
        for (var i = 0; i < 3; i++)
        {
            var session = await transport.OpenSessionAsync(ct);
            await session.SendAsync(Message(i), null, ct);
            sessions.Add(session);
        }

        foreach (var session in sessions)
        {
            await session.DisposeAsync();
        }

        Assert.Equal(3, server.Sessions);
        Assert.Equal(2, transport.IdleConnections);
    }

    [Fact]
    public async Task ReportsA4xxReplyAsDeferredAndKeepsTheConnection()
    {
        await using var server = await SmtpServerFixture.StartAsync(new SmtpRules { DeferAlways = ["reader1@example.org"] });
        await using var transport = Transport(server);
        var ct = TestContext.Current.CancellationToken;
        await using var session = await transport.OpenSessionAsync(ct);

        var deferred = await session.SendAsync(Message(1), null, ct);
        var next = await session.SendAsync(Message(2), null, ct);

        Assert.Equal(SendOutcome.Deferred, deferred.Outcome);
        Assert.Equal(451, deferred.StatusCode);
        Assert.Equal("4.3.0", deferred.EnhancedStatusCode);
        Assert.False(deferred.IsHardBounce);
        Assert.Equal(SendOutcome.Sent, next.Outcome);
        Assert.Equal(1, server.Sessions);
    }

    [Fact]
    public async Task AGreylistedRecipientGoesThroughOnRetry()
    {
        await using var server = await SmtpServerFixture.StartAsync(new SmtpRules { DeferFirst = ["reader1@example.org"] });
        await using var transport = Transport(server);
        var ct = TestContext.Current.CancellationToken;

        Assert.Equal(SendOutcome.Deferred, (await transport.SendAsync(Message(1), null, ct)).Outcome);
        Assert.Equal(SendOutcome.Sent, (await transport.SendAsync(Message(1), null, ct)).Outcome);
    }

    [Fact]
    public async Task ReportsAnUnknownMailboxAsAFailedHardBounceAndKeepsTheConnection()
    {
        await using var server = await SmtpServerFixture.StartAsync(new SmtpRules { Reject = ["reader1@example.org"] });
        await using var transport = Transport(server);
        var ct = TestContext.Current.CancellationToken;
        await using var session = await transport.OpenSessionAsync(ct);

        var failed = await session.SendAsync(Message(1), null, ct);
        var next = await session.SendAsync(Message(2), null, ct);

        Assert.Equal(SendOutcome.Failed, failed.Outcome);
        Assert.Equal(550, failed.StatusCode);
        Assert.Equal("5.1.1", failed.EnhancedStatusCode);
        Assert.True(failed.IsHardBounce);
        Assert.Contains("User unknown", failed.Reply, StringComparison.Ordinal);
        Assert.Equal(SendOutcome.Sent, next.Outcome);
        Assert.Equal(1, server.Sessions);
        Assert.Single(await server.WaitForMessagesAsync(1));
    }

    [Fact]
    public async Task ReportsAPolicyRejectionAsFailedButNotAHardBounce()
    {
        await using var server = await SmtpServerFixture.StartAsync(new SmtpRules
        {
            Replies = new Dictionary<string, string> { ["reader1@example.org"] = "554 5.7.1 <reader1@example.org>: Relay access denied" },
        });
        await using var transport = Transport(server);

        var failed = await transport.SendAsync(Message(1), null, TestContext.Current.CancellationToken);

        Assert.Equal(SendOutcome.Failed, failed.Outcome);
        Assert.Equal("5.7.1", failed.EnhancedStatusCode);
        Assert.False(failed.IsHardBounce);
    }

    [Fact]
    public async Task ReportsARejectedMessageBodyAsFailed()
    {
        await using var server = await SmtpServerFixture.StartAsync(new SmtpRules { DataReply = "554 5.6.0 Message content rejected" });
        await using var transport = Transport(server);

        var failed = await transport.SendAsync(Message(1), null, TestContext.Current.CancellationToken);

        Assert.Equal(SendOutcome.Failed, failed.Outcome);
        Assert.Equal(554, failed.StatusCode);
        Assert.False(failed.IsHardBounce);
    }

    [Fact]
    public async Task ReportsADroppedConnectionAsConnectionLostAndReconnectsOnTheNextSend()
    {
        await using var server = await SmtpServerFixture.StartAsync(new SmtpRules { DropAfter = 2 });
        await using var transport = Transport(server);
        var ct = TestContext.Current.CancellationToken;
        await using var session = await transport.OpenSessionAsync(ct);

        var results = new List<SendResult>();
        for (var i = 0; i < 4; i++)
        {
            results.Add(await session.SendAsync(Message(i), null, ct));
        }

        Assert.Equal([SendOutcome.Sent, SendOutcome.Sent, SendOutcome.ConnectionLost, SendOutcome.Sent], results.Select(r => r.Outcome));
        Assert.Null(results[2].StatusCode);
        Assert.False(results[2].IsHardBounce);
        Assert.Equal(2, server.Sessions);
        var received = await server.WaitForMessagesAsync(3);
        Assert.Equal(["reader0@example.org", "reader1@example.org", "reader3@example.org"], received.Select(r => r.RcptTo.Single()));
    }

    [Fact]
    public async Task ReplacesAPooledConnectionThatDiedWhileIdle()
    {
        await using var server = await SmtpServerFixture.StartAsync();
        await using var transport = Transport(server);
        transport.NoopAfter = TimeSpan.Zero;
        var ct = TestContext.Current.CancellationToken;

        Socket pooledSocket;
        await using (var session = (SmtpTransport.SmtpSession)await transport.OpenSessionAsync(ct))
        {
            await session.SendAsync(Message(1), null, ct);
            pooledSocket = session.Socket!;
        }

        // The connection breaks while it sits in the pool; MailKit can't know until it talks.
        pooledSocket.Shutdown(SocketShutdown.Both);
        var result = await transport.SendAsync(Message(2), null, ct);

        Assert.Equal(SendOutcome.Sent, result.Outcome);
        Assert.Equal(2, transport.ConnectionsOpened);
        Assert.Equal(2, server.Sessions);
    }

    [Fact]
    public async Task ClosesAConnectionIdleLongerThanTheIdleTimeout()
    {
        await using var server = await SmtpServerFixture.StartAsync();
        await using var transport = Transport(server, o => o.IdleTimeout = TimeSpan.FromMilliseconds(200));
        var ct = TestContext.Current.CancellationToken;

        await transport.SendAsync(Message(1), null, ct);
        await Task.Delay(300, ct);
        await transport.SendAsync(Message(2), null, ct);

        Assert.Equal(2, transport.ConnectionsOpened);
        Assert.Equal(2, server.Sessions);
    }

    [Fact]
    public async Task ReportsAServerThatIsNotThereAsConnectionLost()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        await using var transport = new SmtpTransport(new SmtpOptions { Host = "127.0.0.1", Port = port, Security = "None" }, NullLogger<SmtpTransport>.Instance);

        var result = await transport.SendAsync(Message(), null, TestContext.Current.CancellationToken);

        Assert.Equal(SendOutcome.ConnectionLost, result.Outcome);
        Assert.Contains("could not connect", result.Reply, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SendsAnInternationalDomainAsPunycodeToAServerWithoutSmtpUtf8()
    {
        await using var server = await SmtpServerFixture.StartAsync();
        await using var transport = Transport(server);

        var result = await transport.SendAsync(Message(1, "user@bücher.de"), null, TestContext.Current.CancellationToken);

        Assert.Equal(SendOutcome.Sent, result.Outcome);
        var received = Assert.Single(await server.WaitForMessagesAsync(1));
        Assert.Equal(["user@xn--bcher-kva.de"], received.RcptTo);
    }

    [Theory]
    [InlineData("Auto", 465, SecureSocketOptions.SslOnConnect)]
    [InlineData("Auto", 587, SecureSocketOptions.StartTls)]
    [InlineData("Auto", 25, SecureSocketOptions.StartTlsWhenAvailable)]
    [InlineData("auto", 2525, SecureSocketOptions.StartTlsWhenAvailable)]
    [InlineData("", 465, SecureSocketOptions.SslOnConnect)]
    [InlineData("None", 465, SecureSocketOptions.None)]
    [InlineData("StartTls", 25, SecureSocketOptions.StartTls)]
    [InlineData("SslOnConnect", 587, SecureSocketOptions.SslOnConnect)]
    [InlineData("StartTlsWhenAvailable", 587, SecureSocketOptions.StartTlsWhenAvailable)]
    public void MatchesTlsToThePortUnlessConfigured(string security, int port, SecureSocketOptions expected)
    {
        Assert.Equal(expected, SmtpTransport.SecurityFor(new SmtpOptions { Security = security, Port = port }));
    }

    [Fact]
    public void RefusesAnUnknownSecuritySetting()
    {
        var e = Assert.Throws<ArgumentException>(() => SmtpTransport.SecurityFor(new SmtpOptions { Security = "Maybe" }));
        Assert.Contains("'Maybe'", e.Message, StringComparison.Ordinal);
    }
}

public class SmtpTransportTlsTests
{
    [Fact]
    public async Task RefusesAServerWhoseCertificateIsNotTrusted()
    {
        await using var server = await SmtpServerFixture.StartAsync(tls: true);
        await using var transport = new SmtpTransport(new SmtpOptions { Host = "localhost", Port = server.Port, Security = "StartTls" }, NullLogger<SmtpTransport>.Instance);

        var result = await transport.SendAsync(TestMail.Build(), null, TestContext.Current.CancellationToken);

        Assert.Equal(SendOutcome.ConnectionLost, result.Outcome);
        Assert.Contains("certificate", result.Reply, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0, server.Count);
    }

    [Fact]
    public async Task SendsOverStartTlsToASelfSignedServerOnlyWhenAllowed()
    {
        await using var server = await SmtpServerFixture.StartAsync(tls: true);
        await using var transport = new SmtpTransport(new SmtpOptions { Host = "localhost", Port = server.Port, Security = "StartTls", AllowInvalidCertificates = true }, NullLogger<SmtpTransport>.Instance);

        var result = await transport.SendAsync(TestMail.Build(), null, TestContext.Current.CancellationToken);

        Assert.Equal(SendOutcome.Sent, result.Outcome);
        Assert.True(Assert.Single(await server.WaitForMessagesAsync(1)).Tls);
    }

    [Fact]
    public async Task UsesStartTlsWhenTheServerOffersItOnPort25Style()
    {
        await using var plain = await SmtpServerFixture.StartAsync();
        await using var transport = new SmtpTransport(new SmtpOptions { Host = "127.0.0.1", Port = plain.Port, Security = "StartTlsWhenAvailable" }, NullLogger<SmtpTransport>.Instance);

        var result = await transport.SendAsync(TestMail.Build(), null, TestContext.Current.CancellationToken);

        Assert.Equal(SendOutcome.Sent, result.Outcome);
        Assert.False(Assert.Single(await plain.WaitForMessagesAsync(1)).Tls);
    }
}

/// <summary>The synchronous session a send worker uses on its own thread: the same outcomes as the async one.</summary>
public class SmtpTransportSyncTests
{
    [Fact]
    public async Task TheSynchronousSessionSendsDefersRejectsAndKeepsOnePooledConnection()
    {
        await using var server = await SmtpServerFixture.StartAsync(new SmtpRules { DeferAlways = ["reader2@example.org"], Reject = ["reader3@example.org"] });
        await using var transport = SmtpTransportTests.Transport(server);
        var ct = TestContext.Current.CancellationToken;

        var outcomes = new List<SendResult>();
        for (var batch = 0; batch < 2; batch++)
        {
            using var session = transport.OpenSession();
            for (var i = 1; i <= 4; i++)
            {
                outcomes.Add(session.Send(SmtpTransportTests.Message(i), null, ct));
            }
        }

        Assert.Equal([SendOutcome.Sent, SendOutcome.Deferred, SendOutcome.Failed, SendOutcome.Sent], outcomes.Take(4).Select(o => o.Outcome));
        Assert.Equal(outcomes.Take(4).Select(o => o.Outcome), outcomes.Skip(4).Select(o => o.Outcome));
        Assert.True(outcomes[2].IsHardBounce);
        Assert.Equal(451, outcomes[1].StatusCode);
        Assert.Equal(4, (await server.WaitForMessagesAsync(4)).Count);
        Assert.Equal(1, transport.ConnectionsOpened);
    }

    [Fact]
    public async Task ADroppedConnectionIsReportedAndTheNextSendOpensANewOne()
    {
        await using var server = await SmtpServerFixture.StartAsync(new SmtpRules { DropAfter = 2 });
        await using var transport = SmtpTransportTests.Transport(server);
        var ct = TestContext.Current.CancellationToken;
        using var session = transport.OpenSession();

        var results = Enumerable.Range(1, 4).Select(i => session.Send(SmtpTransportTests.Message(i), null, ct).Outcome).ToList();

        Assert.Equal([SendOutcome.Sent, SendOutcome.Sent, SendOutcome.ConnectionLost, SendOutcome.Sent], results);
        Assert.Equal(2, transport.ConnectionsOpened);
    }

    [Fact]
    public async Task TheSynchronousSessionResolvesAHostNameAndHoldsABlockingNoDelaySocket()
    {
        // "localhost" may resolve to ::1 first while the server listens on 127.0.0.1 only: the next address must be tried.
        await using var server = await SmtpServerFixture.StartAsync();
        await using var transport = new SmtpTransport(new SmtpOptions { Host = "localhost", Port = server.Port, Security = "None" }, NullLogger<SmtpTransport>.Instance);
        using var session = (SmtpTransport.SmtpSession)transport.OpenSession();

        var result = session.Send(SmtpTransportTests.Message(1), null, TestContext.Current.CancellationToken);

        Assert.Equal(SendOutcome.Sent, result.Outcome);
        var socket = Assert.IsType<Socket>(session.Socket);
        Assert.True(socket.Blocking);
        // Blocking in the kernel too: a descriptor .NET once made non-blocking stays so, and every reply is then
        // waited for through the socket engine's epoll thread.
        Assert.Equal(0, Fcntl(socket.Handle, FGetFl) & ONonBlock);
        Assert.Equal(1, (int)socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.NoDelay)!);
        Assert.Single(await server.WaitForMessagesAsync(1));
    }

    [Fact]
    public async Task AnEightBitPartGoesOutAsEightBitAndArrivesIntact()
    {
        // The relay (aiosmtpd) offers 8BITMIME, so a part whose 8bit encoding the caller chose is sent unscanned and unchanged.
        await using var server = await SmtpServerFixture.StartAsync();
        await using var transport = SmtpTransportTests.Transport(server);
        using var session = transport.OpenSession();
        var outgoing = TestMail.Issue("reader1@example.org", 1) with
        {
            Html = "<p>“Quoted” — Grüße</p>",
            Text = "“Quoted” — Grüße",
            HtmlEncoding = ContentEncoding.EightBit,
            TextEncoding = ContentEncoding.EightBit,
        };

        Assert.Equal(SendOutcome.Sent, session.Send(TestMail.Build(outgoing), null, TestContext.Current.CancellationToken).Outcome);

        var received = Assert.Single(await server.WaitForMessagesAsync(1)).Message;
        Assert.Equal("“Quoted” — Grüße", received.TextBody!.Trim());
        Assert.Contains("“Quoted” — Grüße", received.HtmlBody, StringComparison.Ordinal);
        Assert.All(received.BodyParts.OfType<TextPart>(), p => Assert.Equal(ContentEncoding.EightBit, p.ContentTransferEncoding));
    }

    [Fact]
    public async Task AConnectTheServerNeverAnswersEndsWhenTheSendIsCancelled()
    {
        // A listener whose accept queue is full and never emptied: the kernel drops further SYNs, so a connect
        // to it waits, as one to a host that is down does, until it is given up on.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var endpoint = (IPEndPoint)listener.LocalEndPoint!;
        var queued = new List<Socket>();
        try
        {
            while (true)
            {
                var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
                queued.Add(filler);
                try
                {
                    filler.Connect(endpoint);
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
                {
                    // Asked of the kernel, not of the socket engine's threads, so a busy machine cannot fake a
                    // full queue: on loopback a handshake the queue has room for is done within the connect call.
                    if (!filler.Poll(TimeSpan.FromSeconds(2), SelectMode.SelectWrite))
                    {
                        break;
                    }
                }

                Assert.True(queued.Count < 64, "the listener's queue never filled");
            }

            await using var transport = new SmtpTransport(new SmtpOptions { Host = "127.0.0.1", Port = endpoint.Port, Security = "None" }, NullLogger<SmtpTransport>.Instance);
            using var session = transport.OpenSession();
            using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            cancel.CancelAfter(TimeSpan.FromMilliseconds(500));

            // Cancelled, not timed out: the connect was cut short by the token, long before the 30 s connect timeout
            // (a TimedOut socket error would come back as a ConnectionLost result instead).
            Assert.Throws<OperationCanceledException>(() => session.Send(SmtpTransportTests.Message(1), null, cancel.Token));
            Assert.Equal(0, transport.ConnectionsOpened);
        }
        finally
        {
            queued.ForEach(q => q.Dispose());
        }
    }

    [Fact]
    public void NothingListeningIsAConnectionLostResultNotAnException()
    {
        var port = AppProcess.FreePort();
        var transport = new SmtpTransport(new SmtpOptions { Host = "127.0.0.1", Port = port, Security = "None" }, NullLogger<SmtpTransport>.Instance);
        using var session = transport.OpenSession();

        var result = session.Send(SmtpTransportTests.Message(1), null, TestContext.Current.CancellationToken);

        Assert.Equal(SendOutcome.ConnectionLost, result.Outcome);
        Assert.Contains($"127.0.0.1:{port}", result.Reply, StringComparison.Ordinal);
    }

    private const int FGetFl = 3;
    private const int ONonBlock = 0x800;

    [System.Runtime.InteropServices.DllImport("libc.so.6", EntryPoint = "fcntl", SetLastError = true)]
    [System.Runtime.InteropServices.DefaultDllImportSearchPaths(System.Runtime.InteropServices.DllImportSearchPath.SafeDirectories)]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Interoperability", "SYSLIB1054", Justification = "LibraryImport needs unsafe code for one call.")]
    private static extern int Fcntl(IntPtr fd, int command);
}

public class SmtpTransportAuthTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task NeverSendsThePasswordToAServerThatOffersAuthWithoutTls()
    {
        await using var server = await SmtpServerFixture.StartAsync();
        // Auto on a port other than 465 and 587 takes STARTTLS only when offered, as on port 25.
        await using var transport = new SmtpTransport(new SmtpOptions { Host = server.Host, Port = server.Port, Security = "Auto", UserName = "author", Password = "secret" }, NullLogger<SmtpTransport>.Instance);

        var result = await transport.SendAsync(TestMail.Build(), null, Ct);

        Assert.Equal(SendOutcome.ConnectionLost, result.Outcome);
        Assert.Contains("AllowPlainTextAuth", result.Reply, StringComparison.Ordinal);
        Assert.Empty(server.Logins);
        Assert.Equal(0, server.Count);
    }

    [Fact]
    public async Task TheSynchronousPathRefusesPlainTextAuthToo()
    {
        await using var server = await SmtpServerFixture.StartAsync();
        await using var transport = new SmtpTransport(new SmtpOptions { Host = server.Host, Port = server.Port, Security = "None", UserName = "author", Password = "secret" }, NullLogger<SmtpTransport>.Instance);

        using var session = transport.OpenSession();
        var result = session.Send(TestMail.Build(), null, Ct);

        Assert.Equal(SendOutcome.ConnectionLost, result.Outcome);
        Assert.Empty(server.Logins);
    }

    [Fact]
    public async Task SendsThePasswordInClearTextOnlyWithTheExplicitOptOut()
    {
        await using var server = await SmtpServerFixture.StartAsync();
        await using var transport = new SmtpTransport(new SmtpOptions { Host = server.Host, Port = server.Port, Security = "Auto", UserName = "author", Password = "secret", AllowPlainTextAuth = true }, NullLogger<SmtpTransport>.Instance);

        var result = await transport.SendAsync(TestMail.Build(), null, Ct);

        Assert.Equal(SendOutcome.Sent, result.Outcome);
        Assert.Equal("tls=False user=author", Assert.Single(server.Logins));
    }

    [Fact]
    public async Task AuthenticatesOverStartTlsWhenTheServerOffersIt()
    {
        await using var server = await SmtpServerFixture.StartAsync(tls: true);
        await using var transport = new SmtpTransport(new SmtpOptions { Host = "localhost", Port = server.Port, Security = "Auto", UserName = "author", Password = "secret", AllowInvalidCertificates = true }, NullLogger<SmtpTransport>.Instance);

        var result = await transport.SendAsync(TestMail.Build(), null, Ct);

        Assert.Equal(SendOutcome.Sent, result.Outcome);
        Assert.Equal("tls=True user=author", Assert.Single(server.Logins));
    }
}

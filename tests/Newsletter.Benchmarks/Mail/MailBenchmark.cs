using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using MimeKit.Cryptography;
using Newsletter.Mail;

namespace Newsletter.Benchmarks.Mail;

/// <summary>
/// dotnet run -c Release --project tests/Newsletter.Benchmarks -- mail [dkim|smtp] [--seconds N]
/// <list type="bullet">
/// <item>dkim: messages signed per second on one core, ours (own canonicalisation, .NET RSA) split into its RSA
/// signature and its one write into the body hash, vs MimeKit's default DkimSigner (BouncyCastle RSA), with
/// <c>openssl speed rsa2048</c>'s raw sign/s as the ceiling.</item>
/// <item>smtp: messages per second over one connection into Postfix's smtp-sink on 127.0.0.1: a bare
/// MailKit loop with and without TCP_NODELAY, and our pooled SmtpTransport session.</item>
/// </list>
/// Every loop is bounded in time and count and talks only to loopback.
/// </summary>
public static class MailBenchmark
{
    /// <summary>Runs the benchmarks named in <paramref name="args"/> (all by default); 0 on success.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = 3.0;
        var which = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--seconds" && i + 1 < args.Length)
            {
                seconds = double.Parse(args[++i], CultureInfo.InvariantCulture);
            }
            else
            {
                which.Add(args[i]);
            }
        }

        if (which.Count == 0)
        {
            which.AddRange(["dkim", "smtp"]);
        }

        var duration = TimeSpan.FromSeconds(seconds);
        foreach (var name in which)
        {
            switch (name)
            {
                case "dkim":
                    Dkim(duration);
                    break;
                case "smtp":
                    if (!await SmtpAsync(duration))
                    {
                        return 1;
                    }

                    break;
                default:
                    Console.Error.WriteLine($"Unknown mail benchmark '{name}': use dkim or smtp.");
                    return 2;
            }
        }

        return 0;
    }

    private static MimeMessage Message(int i) => MessageFactory.Build(new OutgoingMessage
    {
        ToAddress = $"reader{i}@example.org",
        ToName = "A Reader",
        Subject = "Issue 12: Failing visibly",
        Html = "<p>" + string.Concat(Enumerable.Repeat("Systems should fail visibly, never silently. ", 200)) + "</p>",
        Text = string.Concat(Enumerable.Repeat("Systems should fail visibly, never silently. ", 200)),
        MessageId = $"issue-12.sub-{i}@field-notes.example",
        ListUnsubscribeUrl = $"https://field-notes.example/unsubscribe/tok{i}",
        ListUnsubscribeMailto = "mailto:notes@field-notes.example?subject=unsubscribe",
        ListId = "Field Notes <field-notes.example>",
        Bulk = true,
    }, new MailOptions { FromAddress = "notes@field-notes.example", FromName = "Field Notes" });

    private static void Dkim(TimeSpan duration)
    {
        Console.WriteLine($"DKIM signing, rsa-sha256 2048-bit, relaxed/relaxed, ~18 KB message, one thread, {duration.TotalSeconds:0.#} s each, per CPU second (load average {Bench.LoadAverage})");
        using var rsa = RSA.Create(2048);
        var pem = rsa.ExportPkcs8PrivateKeyPem();
        var message = Message(1);
        message.Prepare(EncodingConstraint.SevenBit);

        using var ours = new DkimMessageSigner(pem, "field-notes.example", "bench");
        var oursRate = Rate(duration, () => ours.Sign(message));

        // Where ours spends it: the RSA signature alone, and writing the message once into the body hash.
        var digestInput = new byte[1500];
        var rsaRate = Rate(duration, () => rsa.SignData(digestInput, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        var written = new DkimMessageSigner.WrittenMessage();
        var hashRate = Rate(duration, () =>
        {
            written.Reset();
            message.WriteTo(DkimMessageSigner.Wire, written);
            written.Finish();
        });
        var wireRate = Rate(duration, () => message.WriteTo(DkimMessageSigner.Wire, Stream.Null));

        using var stream = new MemoryStream(System.Text.Encoding.ASCII.GetBytes(pem));
        var mimeKit = new DkimSigner(stream, "field-notes.example", "bench")
        {
            HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
            BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
        };
        var headers = DkimMessageSigner.SignedHeaders.ToArray();
        var mimeKitRate = Rate(duration, () =>
        {
            message.Headers.RemoveAll(HeaderId.DkimSignature);
            mimeKit.Sign(message, headers);
        });

        var openssl = OpensslSignsPerSecond(duration);
        Console.WriteLine($"  ours (own canonicalisation, .NET RSA)     {oursRate,10:N0} msg/s   {1e6 / oursRate,7:F0} us/msg");
        Console.WriteLine($"    of which the RSA signature alone        {rsaRate,10:N0} sign/s  {1e6 / rsaRate,7:F0} us");
        Console.WriteLine($"    of which writing + relaxed body hash    {hashRate,10:N0} /s      {1e6 / hashRate,7:F0} us   (writing alone {1e6 / wireRate:F0} us)");
        Console.WriteLine($"  MimeKit DkimSigner (BouncyCastle RSA)     {mimeKitRate,10:N0} msg/s   {1e6 / mimeKitRate,7:F0} us/msg   ours is {oursRate / mimeKitRate:0.0}x");
        Console.WriteLine(openssl is { } o
            ? $"  openssl speed rsa2048 (raw signatures)    {o,10:N0} sign/s  ours reaches {oursRate / o:P0} of it"
            : "  openssl speed rsa2048                      (openssl not found)");
        Console.WriteLine($"  (load average after: {Bench.LoadAverage})");
    }

    /// <summary>
    /// Calls per second of this process's CPU time, not of the clock: <c>openssl speed</c> counts its own CPU time
    /// too, so on a machine other work keeps busy the two stay comparable.
    /// </summary>
    private static double Rate(TimeSpan duration, Action action)
    {
        // Long enough for the JIT's second tier, which otherwise lands inside the first measurement.
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed < TimeSpan.FromSeconds(1))
        {
            action();
        }

        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpu = process.TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        var count = 0;
        while (watch.Elapsed < duration && count < 10_000_000)
        {
            action();
            count++;
        }

        process.Refresh();
        return count / (process.TotalProcessorTime - cpu).TotalSeconds;
    }

    internal static double? OpensslSignsPerSecond(TimeSpan duration)
    {
        if (!File.Exists("/usr/bin/openssl"))
        {
            return null;
        }

        var info = new ProcessStartInfo("/usr/bin/openssl", ["speed", "-seconds", Math.Max(1, (int)duration.TotalSeconds).ToString(CultureInfo.InvariantCulture), "rsa2048"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var p = Process.Start(info)!;
        var output = p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        p.WaitForExit();

        // "rsa 2048 bits 0.000677s 0.000020s   1477.5  49800.9": the third number is sign/s.
        var m = Regex.Match(output, @"rsa\s+2048\s+bits\s+\S+\s+\S+\s+([\d.]+)");
        return m.Success ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : null;
    }

    private static async Task<bool> SmtpAsync(TimeSpan duration)
    {
        if (!Sending.SmtpSink.Installed(out var why))
        {
            Console.Error.WriteLine("smtp: " + why);
            return false;
        }

        using var sink = await Sending.SmtpSink.StartAsync();
        var port = sink.Port;
        var messages = Enumerable.Range(0, 200).Select(Message).ToList();
        Console.WriteLine($"SMTP into Postfix smtp-sink on 127.0.0.1:{port}, one connection, ~18 KB messages, {duration.TotalSeconds:0.#} s each");
        var withDelay = await BareMailKitAsync(port, noDelay: false, messages, duration);
        var withNoDelay = await BareMailKitAsync(port, noDelay: true, messages, duration);
        var ours = await TransportAsync(port, messages, duration);
        Console.WriteLine($"  bare MailKit, Nagle on (no TCP_NODELAY)   {withDelay,10:N0} msg/s");
        Console.WriteLine($"  bare MailKit, TCP_NODELAY                 {withNoDelay,10:N0} msg/s   {withNoDelay / withDelay:0.0}x");
        Console.WriteLine($"  SmtpTransport session (pooled, NODELAY)   {ours,10:N0} msg/s   {ours / withNoDelay:P0} of the bare loop");
        return true;
    }

    private static async Task<double> BareMailKitAsync(int port, bool noDelay, List<MimeMessage> messages, TimeSpan duration)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = noDelay };
        await socket.ConnectAsync(IPAddress.Loopback, port);
        using var client = new SmtpClient();
        await client.ConnectAsync(socket, "127.0.0.1", port, SecureSocketOptions.None);
        var sender = new MailboxAddress("", "bounce@field-notes.example");
        await client.SendAsync(messages[0], sender, messages[0].To.Mailboxes);
        var watch = Stopwatch.StartNew();
        var count = 0;
        while (watch.Elapsed < duration && count < 1_000_000)
        {
            var m = messages[count % messages.Count];
            await client.SendAsync(m, sender, m.To.Mailboxes);
            count++;
        }

        var rate = count / watch.Elapsed.TotalSeconds;
        await client.DisconnectAsync(true);
        return rate;
    }

    private static async Task<double> TransportAsync(int port, List<MimeMessage> messages, TimeSpan duration)
    {
        await using var transport = new SmtpTransport(new SmtpOptions { Host = "127.0.0.1", Port = port, Security = "None" }, NullLogger<SmtpTransport>.Instance);
        await using var session = await transport.OpenSessionAsync(CancellationToken.None);
        var sender = new MailboxAddress("", "bounce@field-notes.example");
        await session.SendAsync(messages[0], sender, CancellationToken.None);
        var watch = Stopwatch.StartNew();
        var count = 0;
        while (watch.Elapsed < duration && count < 1_000_000)
        {
            var result = await session.SendAsync(messages[count % messages.Count], sender, CancellationToken.None);
            if (result.Outcome != SendOutcome.Sent)
            {
                throw new InvalidOperationException($"smtp-sink did not accept a message: {result}");
            }

            count++;
        }

        return count / watch.Elapsed.TotalSeconds;
    }
}

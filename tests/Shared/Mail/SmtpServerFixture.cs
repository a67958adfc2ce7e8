using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using MimeKit;

namespace Newsletter.Testing;

/// <summary>A message the test SMTP server accepted, with its envelope and the connection it came on.</summary>
/// <param name="Message">The message as received.</param>
/// <param name="MailFrom">The envelope sender (MAIL FROM).</param>
/// <param name="RcptTo">The envelope recipients the server accepted (RCPT TO).</param>
/// <param name="Session">The number of the connection that carried it, 1 for the server's first.</param>
/// <param name="File">The .eml file it was saved to.</param>
/// <param name="Tls">Whether it came over STARTTLS.</param>
public sealed record ReceivedMail(MimeMessage Message, string MailFrom, IReadOnlyList<string> RcptTo, int Session, string File, bool Tls);

/// <summary>What the test SMTP server should do; see tests/Shared/smtp_server.py. Every rule is optional.</summary>
public sealed record SmtpRules
{
    /// <summary>Answer 550 5.1.1 (no such mailbox) at RCPT.</summary>
    [JsonPropertyName("reject")]
    public IReadOnlyList<string>? Reject { get; init; }

    /// <summary>Answer these recipients at RCPT with the given reply, e.g. "554 5.7.1 Policy".</summary>
    [JsonPropertyName("replies")]
    public IReadOnlyDictionary<string, string>? Replies { get; init; }

    /// <summary>Answer 451 4.3.0 at RCPT, every time.</summary>
    [JsonPropertyName("defer_always")]
    public IReadOnlyList<string>? DeferAlways { get; init; }

    /// <summary>Answer 451 4.7.1 on the first attempt only (greylisting), so a retry succeeds.</summary>
    [JsonPropertyName("defer_first")]
    public IReadOnlyList<string>? DeferFirst { get; init; }

    /// <summary>Greylist this percentage of all recipients (chosen by crc32 of the address, so deterministic).</summary>
    [JsonPropertyName("defer_first_percent")]
    public int? DeferFirstPercent { get; init; }

    /// <summary>After this many messages on one connection, drop it at the next DATA without a reply.</summary>
    [JsonPropertyName("drop_after")]
    public int? DropAfter { get; init; }

    /// <summary>Wait this long before answering DATA.</summary>
    [JsonPropertyName("delay_ms")]
    public int? DelayMs { get; init; }

    /// <summary>Answer DATA with this reply instead of accepting, e.g. "554 5.6.0 Malformed".</summary>
    [JsonPropertyName("data_reply")]
    public string? DataReply { get; init; }
}

/// <summary>
/// A real SMTP server (Debian's python3-aiosmtpd running tests/Shared/smtp_server.py) on 127.0.0.1 and
/// a free port, for one test (<see cref="StartAsync"/>) or one class (as an xunit class fixture). It
/// saves every message it accepts, counts connections, and follows <see cref="SmtpRules"/> that can change
/// while it runs: defer, reject, drop the connection, delay. Disposing kills the process.
/// </summary>
public sealed class SmtpServerFixture : IAsyncLifetime
{
    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
    private readonly StringBuilder _log = new();
    private Process? _process;

    /// <summary>Used by xunit for a class fixture; <see cref="InitializeAsync"/> starts the server.</summary>
    public SmtpServerFixture()
    {
        Folder = Path.Combine(RepoPaths.TempDir("smtp"), "mail");
        Directory.CreateDirectory(Folder);
    }

    /// <summary>
    /// Offer STARTTLS with a self-signed certificate for localhost and 127.0.0.1, made for this server
    /// (so a client that checks certificates must refuse it). Set before <see cref="InitializeAsync"/>.
    /// </summary>
    public bool Tls { get; init; }

    /// <summary>The self-signed certificate's PEM file when <see cref="Tls"/> is on.</summary>
    public string CertificatePath => Path.Combine(Path.GetDirectoryName(Folder)!, "server.crt");

    /// <summary>The address the server listens on.</summary>
    public string Host => "127.0.0.1";

    /// <summary>The port the server listens on.</summary>
    public int Port { get; private set; }

    /// <summary>Where messages (NNNNNN.eml + NNNNNN.json), sessions.log and rules.json live.</summary>
    public string Folder { get; }

    /// <summary>The rules file the server re-reads when it changes.</summary>
    public string RulesPath => Path.Combine(Folder, "rules.json");

    /// <summary>Connections the server has accepted since it started (or since <see cref="Clear"/>).</summary>
    public int Sessions
    {
        get
        {
            var log = Path.Combine(Folder, "sessions.log");
            return File.Exists(log) ? File.ReadAllLines(log).Length : 0;
        }
    }

    /// <summary>Logins the server accepted, one "tls=True|False user=NAME" line each.</summary>
    public IReadOnlyList<string> Logins
    {
        get
        {
            var log = Path.Combine(Folder, "auth.log");
            return File.Exists(log) ? File.ReadAllLines(log) : [];
        }
    }

    /// <summary>Everything the server wrote to stderr: aiosmtpd's log, for a failing test's message.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Messages accepted so far, in the order they arrived.</summary>
    public IReadOnlyList<ReceivedMail> Messages
    {
        get
        {
            var list = new List<ReceivedMail>();
            foreach (var file in Directory.GetFiles(Folder, "*.eml").Order(StringComparer.Ordinal))
            {
                var meta = JsonDocument.Parse(File.ReadAllText(Path.ChangeExtension(file, ".json"))).RootElement;
                list.Add(new ReceivedMail(
                    MimeMessage.Load(file),
                    meta.GetProperty("mail_from").GetString() ?? "",
                    [.. meta.GetProperty("rcpt_tos").EnumerateArray().Select(e => e.GetString() ?? "")],
                    meta.GetProperty("session").GetInt32(),
                    file,
                    meta.TryGetProperty("tls", out var tls) && tls.GetBoolean()));
            }

            return list;
        }
    }

    /// <summary>How many messages the server has accepted.</summary>
    public int Count => Directory.GetFiles(Folder, "*.eml").Length;

    /// <summary>Starts a server for one test; dispose it at the test's end.</summary>
    public static async Task<SmtpServerFixture> StartAsync(SmtpRules? rules = null, bool tls = false)
    {
        var server = new SmtpServerFixture { Tls = tls };
        if (rules is not null)
        {
            server.SetRules(rules);
        }

        await server.InitializeAsync();
        return server;
    }

    /// <inheritdoc />
    public async ValueTask InitializeAsync()
    {
        var python = Requires.PythonModule("aiosmtpd", "apt-get install python3-aiosmtpd");
        var script = Path.Combine(AppContext.BaseDirectory, "Shared", "smtp_server.py");
        if (!File.Exists(script))
        {
            script = Path.Combine(RepoPaths.Root, "tests", "Shared", "smtp_server.py");
        }

        List<string> arguments = [script, Folder, RulesPath];
        if (Tls)
        {
            var key = Path.Combine(Path.GetDirectoryName(Folder)!, "server.key");
            WriteSelfSignedCertificate(CertificatePath, key);
            arguments.AddRange([CertificatePath, key]);
        }

        var info = new ProcessStartInfo(python, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };

        // The server exits on its own if this test process dies without disposing it.
        info.Environment["SMTP_PARENT_PID"] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        _process = Process.Start(info) ?? throw new InvalidOperationException("python3 did not start");
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_log)
                {
                    _log.AppendLine(e.Data);
                }
            }
        };
        _process.BeginErrorReadLine();
        var first = await _process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20));
        if (!int.TryParse(first, out var port))
        {
            await Task.Delay(200);
            throw new InvalidOperationException($"The test SMTP server did not start (first line '{first}'):\n{Log}");
        }

        Port = port;
    }

    /// <summary>Replaces the rules; the server applies them from its next command on.</summary>
    public void SetRules(SmtpRules rules) => WriteRules(JsonSerializer.Serialize(rules, Json));

    /// <summary>Replaces the rules with any object that serialises to the rules file's JSON (snake_case keys).</summary>
    public void SetRules(object rules) => WriteRules(JsonSerializer.Serialize(rules, Json));

    /// <summary>Forgets received messages, the connection count and the rules.</summary>
    public void Clear()
    {
        foreach (var file in Directory.GetFiles(Folder).Where(f => f.EndsWith(".eml", StringComparison.Ordinal) || f.EndsWith(".json", StringComparison.Ordinal) || f.EndsWith("sessions.log", StringComparison.Ordinal)))
        {
            File.Delete(file);
        }
    }

    /// <summary>Waits until the server has accepted at least <paramref name="count"/> messages.</summary>
    /// <exception cref="TimeoutException">Fewer arrived in time; the message says how many and shows the server's log.</exception>
    public async Task<IReadOnlyList<ReceivedMail>> WaitForMessagesAsync(int count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (Count < count)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Expected {count} messages at the test SMTP server, got {Count}.\n{Log}");
            }

            await Task.Delay(50);
        }

        return Messages;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5_000);
        }

        _process?.Dispose();
        _process = null;
        RepoPaths.DeleteTempDir(Path.GetDirectoryName(Folder)!);

        return ValueTask.CompletedTask;
    }

    private static void WriteSelfSignedCertificate(string certificatePath, string keyPath)
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, rsa.ExportPkcs8PrivateKeyPem());
    }

    private void WriteRules(string json)
    {
        // Written aside and renamed, so the server never reads half a file.
        var temp = RulesPath + ".tmp";
        File.WriteAllText(temp, json);
        File.Move(temp, RulesPath, overwrite: true);
    }
}

#if NEWSLETTER_WEB
using System.Diagnostics;
using System.Text.Json;
using MimeKit;

namespace Newsletter.Testing;

/// <summary>A message the test SMTP server accepted, with the envelope it came in.</summary>
public sealed record ReceivedMessage(string EnvelopeFrom, string EnvelopeTo, MimeMessage Message, string File);

/// <summary>
/// A real SMTP server (Debian's python3-aiosmtpd) started for a test, scriptable with rules: defer some
/// recipients with 451, reject some with 550 5.1.1, drop the connection after N messages, freeze at the N-th.
/// </summary>
public sealed class SmtpServer : IAsyncDisposable
{
    private readonly Process _process;

    private SmtpServer(Process process, string folder, int port)
    {
        _process = process;
        Folder = folder;
        Port = port;
    }

    public string Folder { get; }

    public int Port { get; }

    public string RulesPath => Path.Combine(Folder, "rules.json");

    public int Sessions => File.Exists(Path.Combine(Folder, "sessions.log")) ? File.ReadAllLines(Path.Combine(Folder, "sessions.log")).Length : 0;

    public Dictionary<string, string?> AppSettings => new()
    {
        ["Mail:Transport"] = "Smtp",
        ["Mail:Smtp:Host"] = "127.0.0.1",
        ["Mail:Smtp:Port"] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Mail:Smtp:Security"] = "None",
    };

    public static async Task<SmtpServer> StartAsync(object? rules = null)
    {
        var python = Requires.PythonModule("aiosmtpd", "apt-get install python3-aiosmtpd");
        var folder = RepoPaths.TempDir("smtp");
        var script = Path.Combine(AppContext.BaseDirectory, "Shared", "smtp_server.py");
        if (!File.Exists(script))
        {
            script = Path.Combine(RepoPaths.Root, "tests", "Shared", "smtp_server.py");
        }

        var process = Process.Start(new ProcessStartInfo(python, [script, Path.Combine(folder, "mail"), Path.Combine(folder, "mail", "rules.json")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var first = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20));
        if (!int.TryParse(first, out var port))
        {
            throw new InvalidOperationException($"The SMTP server did not start: {first} {await process.StandardError.ReadToEndAsync()}");
        }

        _ = process.StandardError.ReadToEndAsync();
        var server = new SmtpServer(process, Path.Combine(folder, "mail"), port);
        if (rules is not null)
        {
            server.SetRules(rules);
        }

        return server;
    }

    /// <summary>
    /// Thaws a server the <c>freeze_at</c> rule froze (it stops itself as it stores that message: the kernel still
    /// accepts connections, nothing answers them).
    /// </summary>
    public void Thaw()
    {
        using var kill = Process.Start("kill", ["-CONT", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    public void SetRules(object rules) => File.WriteAllText(RulesPath, JsonSerializer.Serialize(rules));

    public IReadOnlyList<ReceivedMessage> Messages()
    {
        var list = new List<ReceivedMessage>();
        foreach (var file in Directory.GetFiles(Folder, "*.eml").Order(StringComparer.Ordinal))
        {
            var message = MimeMessage.Load(file);
            list.Add(new ReceivedMessage(message.Headers["X-Envelope-From"] ?? "", message.Headers["X-Envelope-To"] ?? "", message, file));
        }

        return list;
    }

    public int Count => Directory.Exists(Folder) ? Directory.GetFiles(Folder, "*.eml").Length : 0;

    /// <summary>Waits for <paramref name="count"/> messages that match; returns the first that does.</summary>
    public async Task<ReceivedMessage> WaitForAsync(int count, TimeSpan timeout, Func<ReceivedMessage, bool> match)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var found = Messages().Where(match).ToList();
            if (found.Count >= count)
            {
                return found[0];
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Expected {count} matching messages at the SMTP server, got {found.Count} of {Count}.");
            }

            await Task.Delay(100);
        }
    }

    public async Task<IReadOnlyList<ReceivedMessage>> WaitForAsync(int count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (Count < count)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Expected {count} messages at the SMTP server, got {Count}.");
            }

            await Task.Delay(100);
        }

        return Messages();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        RepoPaths.DeleteTempDir(Path.GetDirectoryName(Folder)!);
    }
}
#endif

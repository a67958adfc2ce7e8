#if NEWSLETTER_WEB
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;
using MimeKit;

namespace Newsletter.Testing;

/// <summary>
/// A throwaway IMAP server: Debian's Dovecot with its own configuration in a temporary folder, one
/// passwd-file user, Maildir storage in that folder, plain IMAP on a free loopback port. Run as an
/// ordinary user it runs as that user; run as root (a CI container) it drops to Debian's dovecot and
/// dovenull users, since its login process refuses to run as root.
/// </summary>
public sealed class DovecotServer : IAsyncDisposable
{
    public const string User = "author";
    public const string Password = "inbox-password";

    private readonly Process _process;

    private DovecotServer(Process process, string folder, int port)
    {
        _process = process;
        Folder = folder;
        Port = port;
    }

    public string Folder { get; }

    public int Port { get; }

    public string Log => File.Exists(Path.Combine(Folder, "dovecot.log")) ? File.ReadAllText(Path.Combine(Folder, "dovecot.log")) : "";

    /// <summary>The app's settings for reading this mailbox.</summary>
    public Dictionary<string, string?> AppSettings(int pollSeconds = 1) => new()
    {
        ["Inbound:Imap:Host"] = "127.0.0.1",
        ["Inbound:Imap:Port"] = Port.ToString(CultureInfo.InvariantCulture),
        ["Inbound:Imap:Username"] = User,
        ["Inbound:Imap:Password"] = Password,
        ["Inbound:Imap:UseSsl"] = "false",
        ["Inbound:Imap:PollSeconds"] = pollSeconds.ToString(CultureInfo.InvariantCulture),
    };

    /// <param name="idle">False hides IDLE from the capabilities, so the app has to poll.</param>
    public static async Task<DovecotServer> StartAsync(bool idle = true)
    {
        var dovecot = Requires.Tool("dovecot", "apt-get install dovecot-imapd");
        if (OperatingSystem.IsWindows())
        {
            Requires.Missing("Dovecot runs on Linux only.");
            return null!;
        }

        var folder = RepoPaths.TempDir("dovecot");
        var root = Environment.UserName == "root" || Id("-u") == "0";
        // Dovecot's processes must reach the folder; as root they run as the dovecot user.
        for (var dir = new DirectoryInfo(folder); dir is not null && dir.FullName.StartsWith(Path.GetTempPath(), StringComparison.Ordinal); dir = dir.Parent)
        {
            File.SetUnixFileMode(dir.FullName, File.GetUnixFileMode(dir.FullName) | UnixFileMode.OtherExecute | UnixFileMode.OtherRead | UnixFileMode.GroupExecute | UnixFileMode.GroupRead);
        }

        Directory.CreateDirectory(Path.Combine(folder, "run"));
        Directory.CreateDirectory(Path.Combine(folder, "state"));
        var mail = Directory.CreateDirectory(Path.Combine(folder, "mail")).FullName;
        var (uid, gid) = root ? (Id("-u dovecot"), Id("-g dovecot")) : (Id("-u"), Id("-g"));
        var (internalUser, loginUser) = root ? ("dovecot", "dovenull") : (Environment.UserName, Environment.UserName);
        var internalGroup = root ? "dovecot" : Id("-gn");
        if (root)
        {
            using var chown = Process.Start("chown", ["-R", $"{uid}:{gid}", mail])!;
            await chown.WaitForExitAsync();
        }

        await File.WriteAllTextAsync(Path.Combine(folder, "passwd"), $"{User}:{{PLAIN}}{Password}\n");
        // Read by Dovecot's auth process, which runs as the dovecot user when started by root.
        File.SetUnixFileMode(Path.Combine(folder, "passwd"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var port = AppProcess.FreePort();
        var config = Path.Combine(folder, "dovecot.conf");
        await File.WriteAllTextAsync(config, $$"""
            base_dir = {{folder}}/run
            state_dir = {{folder}}/state
            log_path = {{folder}}/dovecot.log
            protocols = imap
            listen = 127.0.0.1
            ssl = no
            disable_plaintext_auth = no
            auth_mechanisms = plain login
            default_internal_user = {{internalUser}}
            default_internal_group = {{internalGroup}}
            default_login_user = {{loginUser}}
            first_valid_uid = 0
            mail_location = maildir:{{mail}}/%u
            {{(idle ? "" : "imap_capability = IMAP4rev1 SASL-IR LITERAL+ ENABLE")}}
            passdb {
              driver = passwd-file
              args = scheme=PLAIN username_format=%u {{folder}}/passwd
            }
            userdb {
              driver = static
              args = uid={{uid}} gid={{gid}} home={{mail}}/%u
            }
            service imap-login {
              chroot =
              inet_listener imap {
                address = 127.0.0.1
                port = {{port}}
              }
              inet_listener imaps {
                port = 0
              }
            }
            service anvil {
              chroot =
            }
            service stats {
              unix_listener stats-reader {
                mode = 0666
              }
              unix_listener stats-writer {
                mode = 0666
              }
            }
            """);
        var process = Process.Start(new ProcessStartInfo(dovecot, ["-F", "-c", config]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        var server = new DovecotServer(process, folder, port);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port);
                return server;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                await Task.Delay(100);
            }
            catch (SocketException)
            {
                throw new InvalidOperationException($"Dovecot did not start: {server.Log}");
            }
        }
    }

    /// <summary>Delivers a message into the mailbox's INBOX (as the author's MTA would) and returns its UID.</summary>
    public async Task<uint> AppendAsync(MimeMessage message)
    {
        using var client = await ConnectAsync();
        var inbox = client.Inbox;
        var uid = await inbox.AppendAsync(message, MessageFlags.None);
        await client.DisconnectAsync(true);
        return uid?.Id ?? 0;
    }

    /// <summary>UIDs of the INBOX's messages flagged \Seen.</summary>
    public async Task<int> SeenCountAsync()
    {
        using var client = await ConnectAsync();
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var seen = await client.Inbox.SearchAsync(MailKit.Search.SearchQuery.Seen);
        await client.DisconnectAsync(true);
        return seen.Count;
    }

    private async Task<ImapClient> ConnectAsync()
    {
        var client = new ImapClient();
        await client.ConnectAsync("127.0.0.1", Port, SecureSocketOptions.None);
        await client.AuthenticateAsync(User, Password);
        return client;
    }

    private static string Id(string args)
    {
        using var p = Process.Start(new ProcessStartInfo("id", args.Split(' ')) { RedirectStandardOutput = true })!;
        var output = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return output;
    }

    public async ValueTask DisposeAsync()
    {
        TestContext.Current.TestOutputHelper?.WriteLine("Dovecot log:" + Environment.NewLine + Log);
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
            // a child still closing a file: the temp folder is cleaned with the rest
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
#endif

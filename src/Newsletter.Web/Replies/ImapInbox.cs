using MailKit;
using MailKit.Net.Imap;
using MailKit.Search;
using MailKit.Security;
using Microsoft.EntityFrameworkCore;
using MimeKit;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Sending;

namespace Newsletter.Web.Replies;

/// <summary>The "Inbound" section: where mail to the author arrives when no MTA pipes it to us.</summary>
public sealed class InboundOptions
{
    public ImapOptions Imap { get; set; } = new();
}

/// <summary>An IMAP mailbox the app reads replies (and bounces) from. Off while Host is empty.</summary>
public sealed class ImapOptions
{
    public string Host { get; set; } = "";

    /// <summary>993 with UseSsl, 143 without.</summary>
    public int? Port { get; set; }

    public string Username { get; set; } = "";

    public string Password { get; set; } = "";

    public string Folder { get; set; } = "INBOX";

    /// <summary>TLS from the first byte (993). Off: STARTTLS when the server offers it (143).</summary>
    public bool UseSsl { get; set; } = true;

    /// <summary>Only for a self-signed development server; logged as a warning.</summary>
    public bool AllowInvalidCertificates { get; set; }

    /// <summary>How often to look for new mail when the server has no IDLE; with IDLE, how often the wait is renewed.</summary>
    public int PollSeconds { get; set; } = 60;

    /// <summary>A message larger than this is stored from its headers only, with a note saying so.</summary>
    public int MaxMessageBytes { get; set; } = 10 * 1024 * 1024;

    public bool Enabled => !string.IsNullOrWhiteSpace(Host);

    public int EffectivePort => Port ?? (UseSsl ? 993 : 143);

    /// <summary>The cursor's name: one per mailbox and folder, shared by every node that reads it.</summary>
    public string Account => $"imap://{Username}@{Host}:{EffectivePort}/{Folder}";

    public IEnumerable<string> Problems()
    {
        if (!Enabled)
        {
            yield break;
        }

        if (string.IsNullOrWhiteSpace(Username))
        {
            yield return "Inbound:Imap:Username is empty: the mailbox can't be read without signing in.";
        }

        if (PollSeconds < 1)
        {
            yield return "Inbound:Imap:PollSeconds must be at least 1.";
        }

        if (MaxMessageBytes < 64 * 1024)
        {
            yield return "Inbound:Imap:MaxMessageBytes must be at least 65536.";
        }
    }
}

/// <summary>
/// Reads new mail from an IMAP folder into <see cref="InboundMail"/>: replies go to the Replies inbox,
/// bounces and complaints to the same handling as the pipe's. Waits with IDLE when the server offers it,
/// else polls. Exactly once: the folder's UIDVALIDITY and the last UID handled are kept in the database
/// (<see cref="InboundCursor"/>), and a reply is stored under a unique key (its Message-ID), so a restart,
/// a crash between storing and moving the cursor, or two nodes reading the same folder never keep it twice.
/// Messages are left in the mailbox (marked \Seen): the author's own mail client still has them.
/// </summary>
public sealed class ImapInbox(IServiceScopeFactory scopes, ImapOptions options, TimeProvider clock, ILogger<ImapInbox> logger) : BackgroundService
{
    /// <summary>Messages handled per pass; the next pass takes the rest.</summary>
    private const int BatchSize = 200;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.AllowInvalidCertificates)
        {
            logger.LogWarning("Inbound:Imap:AllowInvalidCertificates is on: any certificate from {Host} is accepted", options.Host);
        }

        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunSessionAsync(stoppingToken);
                failures = 0;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                // Any failure ends this session, never the app: a hosted service that throws stops the host.
                failures++;
                var wait = TimeSpan.FromSeconds(Math.Min(300, options.PollSeconds * Math.Pow(2, Math.Min(failures, 6) - 1)));
                // A mailbox that can't be read must show: every failure is a warning with the cause, and the
                // messages stay on the server until the next session reads them.
                logger.LogWarning("Reading replies from {Account} failed ({Error}); trying again in {Wait}", options.Account, e.Message, wait);
                try
                {
                    await Task.Delay(wait, clock, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task RunSessionAsync(CancellationToken ct)
    {
        using var client = new ImapClient();
        if (options.AllowInvalidCertificates)
        {
            client.ServerCertificateValidationCallback = (_, _, _, _) => true;
        }

        client.Timeout = 60_000;
        await client.ConnectAsync(options.Host, options.EffectivePort, options.UseSsl ? SecureSocketOptions.SslOnConnect : SecureSocketOptions.StartTlsWhenAvailable, ct);
        await client.AuthenticateAsync(options.Username, options.Password, ct);
        var folder = await client.GetFolderAsync(options.Folder, ct);
        await folder.OpenAsync(FolderAccess.ReadWrite, ct);
        logger.LogInformation("Reading replies from {Account} ({Mode})", options.Account, client.Capabilities.HasFlag(ImapCapabilities.Idle) ? "IDLE" : $"every {options.PollSeconds} s");
        while (!ct.IsCancellationRequested)
        {
            while (await ReadNewAsync(folder, ct) == BatchSize)
            {
            }

            if (client.Capabilities.HasFlag(ImapCapabilities.Idle))
            {
                await IdleAsync(client, folder, ct);
            }
            else
            {
                await Task.Delay(TimeSpan.FromSeconds(options.PollSeconds), clock, ct);
                await client.NoOpAsync(ct);
            }
        }

        await client.DisconnectAsync(true, CancellationToken.None);
    }

    /// <summary>Waits until the folder has new mail, or the poll interval passes (a node that missed a notice still looks).</summary>
    private async Task IdleAsync(ImapClient client, IMailFolder folder, CancellationToken ct)
    {
        using var done = CancellationTokenSource.CreateLinkedTokenSource(ct);
        done.CancelAfter(TimeSpan.FromSeconds(Math.Min(options.PollSeconds, 9 * 60)));
        void Arrived(object? sender, EventArgs e) => done.Cancel();
        folder.CountChanged += Arrived;
        try
        {
            await client.IdleAsync(done.Token, ct);
        }
        finally
        {
            folder.CountChanged -= Arrived;
        }
    }

    /// <summary>Handles the messages after the cursor, in UID order, moving the cursor after each. Returns how many it looked at.</summary>
    internal async Task<int> ReadNewAsync(IMailFolder folder, CancellationToken ct)
    {
        var validity = (long)folder.UidValidity;
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var cursor = await db.InboundCursors.AsNoTracking().FirstOrDefaultAsync(c => c.Account == options.Account, ct);
        // A new UIDVALIDITY means the server renumbered the folder: read it all again; the unique key keeps what was stored once.
        var last = cursor is not null && cursor.UidValidity == validity ? cursor.LastUid : 0;
        var uids = (await folder.SearchAsync(SearchQuery.Uids(new UniqueIdRange(new UniqueId((uint)Math.Min(last + 1, uint.MaxValue)), UniqueId.MaxValue)), ct))
            .Where(u => u.Id > last).OrderBy(u => u.Id).Take(BatchSize).ToList();
        if (uids.Count == 0)
        {
            if (cursor is null || cursor.UidValidity != validity)
            {
                await MoveCursorAsync(db, validity, last, ct);
            }

            return 0;
        }

        var sizes = (await folder.FetchAsync(uids, MessageSummaryItems.Size | MessageSummaryItems.UniqueId, ct)).ToDictionary(s => s.UniqueId, s => s.Size ?? 0);
        foreach (var uid in uids)
        {
            MimeMessage? message;
            try
            {
                message = await LoadAsync(folder, uid, sizes.GetValueOrDefault(uid), ct);
            }
            catch (Exception e) when (e is FormatException or ParseException)
            {
                // One unreadable message must not stop every later one: it is named in the log and left unread in the mailbox.
                logger.LogError("IMAP {Account} UID {Uid} is not a readable message ({Error}); skipped, still in the mailbox", options.Account, uid.Id, e.Message);
                await MoveCursorAsync(db, validity, uid.Id, ct);
                continue;
            }

            if (message is not null)
            {
                var inbound = scope.ServiceProvider.GetRequiredService<InboundMail>();
                var result = await inbound.ProcessAsync(message, "imap", ct);
                logger.LogDebug("IMAP {Account} UID {Uid}: {Kind}", options.Account, uid.Id, result.Kind);
                db.ChangeTracker.Clear();
            }

            await folder.AddFlagsAsync(uid, MessageFlags.Seen, true, ct);
            await MoveCursorAsync(db, validity, uid.Id, ct);
        }

        return uids.Count;
    }

    private async Task<MimeMessage?> LoadAsync(IMailFolder folder, UniqueId uid, uint size, CancellationToken ct)
    {
        if (size <= options.MaxMessageBytes)
        {
            try
            {
                return await folder.GetMessageAsync(uid, ct);
            }
            catch (MessageNotFoundException)
            {
                return null; // expunged by the author's client since the search
            }
        }

        // Too big to read: the headers are enough to thread it and tell the author it came.
        var headers = await folder.GetHeadersAsync(uid, ct);
        var message = new MimeMessage(headers)
        {
            Body = new TextPart("plain") { Text = $"[This message was {size / (1024 * 1024.0):N1} MB, over Inbound:Imap:MaxMessageBytes ({options.MaxMessageBytes / (1024 * 1024.0):N1} MB): only its headers were read. It is still in the mailbox.]" },
        };
        return message;
    }

    /// <summary>Moves the cursor forward only: two nodes moving it race harmlessly, the higher UID wins.</summary>
    private async Task MoveCursorAsync(AppDbContext db, long validity, long uid, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var moved = await db.InboundCursors.Where(c => c.Account == options.Account && (c.UidValidity != validity || c.LastUid < uid))
            .ExecuteUpdateAsync(u => u.SetProperty(c => c.UidValidity, validity).SetProperty(c => c.LastUid, uid).SetProperty(c => c.UpdatedAt, now), ct);
        if (moved > 0 || await db.InboundCursors.AnyAsync(c => c.Account == options.Account, ct))
        {
            return;
        }

        db.InboundCursors.Add(new InboundCursor { Account = options.Account, UidValidity = validity, LastUid = uid, UpdatedAt = now });
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (db.IsUniqueViolation(e))
        {
            db.ChangeTracker.Clear();
            await MoveCursorAsync(db, validity, uid, ct);
        }
        finally
        {
            db.ChangeTracker.Clear();
        }
    }
}

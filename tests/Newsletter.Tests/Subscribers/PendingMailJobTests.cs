using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Subscribers;
using Newsletter.Web.Subscribers.Import;

namespace Newsletter.Tests.Subscribers;

/// <summary>
/// The reader emails that transactions decided on go out together from one job (<see cref="SubscriberMailJob.SendPendingAsync"/>),
/// each row deleted as its email goes. These hold what a refusal leaves and what the job's retry sends, through a
/// real SMTP server that refuses chosen addresses with a 451. The app's job server is off, so the test runs the
/// job itself, as Hangfire would, and its retry.
/// </summary>
public class PendingMailJobTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static NewsletterApp App(SmtpServer smtp) => new(new(smtp.AppSettings) { ["Jobs:Server"] = "false" });

    /// <summary>Signs the addresses up in turn, as the form would, and returns their emails' rows in that order.</summary>
    private static async Task<long[]> SignUpAsync(NewsletterApp app, params string[] emails)
    {
        foreach (var email in emails)
        {
            await using var scope = app.Services.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<ReaderLifecycle>().SubscribeAsync(email, null, "home", Ct);
        }

        await using var read = app.Services.CreateAsyncScope();
        return [.. await read.ServiceProvider.GetRequiredService<AppDbContext>().PendingMails.OrderBy(m => m.Id).Select(m => m.Id).ToListAsync(Ct)];
    }

    private static async Task RunJobAsync(NewsletterApp app, long[] ids)
    {
        await using var scope = app.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<SubscriberMailJob>().SendPendingAsync(ids, Ct);
    }

    /// <summary>The addresses whose emails still wait, in the rows' order.</summary>
    private static async Task<List<string>> WaitingAsync(NewsletterApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        return await db.PendingMails.OrderBy(m => m.Id).Join(db.Subscribers, m => m.SubscriberId, s => s.Id, (m, s) => s.EmailKey).ToListAsync(Ct);
    }

    // The SMTP server writes a message to its folder before it answers 250, so once the job has returned, what it
    // sent is there to count.
    private static List<string> Received(SmtpServer smtp) => [.. smtp.Messages().Select(m => m.EnvelopeTo).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task ARefusedEmailWaitsForTheRetryWhichSendsNobodyASecondCopy()
    {
        await using var smtp = await SmtpServer.StartAsync(new { defer_always = new[] { "later@example.org" } });
        using var app = App(smtp);
        var ids = await SignUpAsync(app, "a@example.org", "later@example.org", "b@example.org");
        Assert.Equal(3, ids.Length);

        var refused = await Assert.ThrowsAsync<MailNotSentYetException>(() => RunJobAsync(app, ids));

        Assert.Contains("1 of 3 reader emails wait", refused.Message, StringComparison.Ordinal);
        Assert.Contains("451", refused.Message, StringComparison.Ordinal);
        Assert.Equal(["a@example.org", "b@example.org"], Received(smtp));
        Assert.Equal(["later@example.org"], await WaitingAsync(app));

        // The relay takes it now: the retry sends that one alone.
        smtp.SetRules(new { });
        await RunJobAsync(app, ids);

        Assert.Equal(["a@example.org", "b@example.org", "later@example.org"], Received(smtp));
        Assert.Empty(await WaitingAsync(app));
        // And a run of the same job once more (Hangfire runs a job again after a crash) sends nothing.
        await RunJobAsync(app, ids);
        Assert.Equal(3, smtp.Count);
    }

    [Fact]
    public async Task AnImportedReaderWhoseConfirmationWasRefusedIsAskedAgainByTheRetry()
    {
        // The relay defers one address, as a throttling provider or a relay outage does for a while.
        await using var smtp = await SmtpServer.StartAsync(new { defer_always = new[] { "later@example.org" } });
        using var app = App(smtp);
        int importId;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var sp = scope.ServiceProvider;
            var csv = "email\na@example.org\nlater@example.org\nb@example.org\n"u8.ToArray();
            var import = await SubscriberImporter.StoreAsync(sp.GetRequiredService<AppDbContext>(), sp.GetRequiredService<ImportFiles>(), new MemoryStream(csv), "list.csv", false, null, null, Ct);
            await sp.GetRequiredService<SubscriberImporter>().ImportAsync(import, Ct);
            importId = import.Id;
        }

        async Task ConfirmationsAsync()
        {
            await using var scope = app.Services.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<ImportConfirmationsJob>().RunAsync(importId, Ct);
        }

        await Assert.ThrowsAnyAsync<Exception>(ConfirmationsAsync);
        Assert.Equal(["a@example.org"], Received(smtp));

        // The job's retry, once the relay takes mail again: the refused reader and the rest, each once. Before,
        // the refused one stayed claimed, and the retry and every later start passed over it: never asked.
        smtp.SetRules(new { });
        await ConfirmationsAsync();
        Assert.Equal(["a@example.org", "b@example.org", "later@example.org"], Received(smtp));
        await ConfirmationsAsync();
        Assert.Equal(3, smtp.Count);
    }

    [Fact]
    public async Task ACopySentAgainAfterTheJobDiedBeforeItsRecordCarriesTheFirstCopysMessageId()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = App(smtp);
        var ids = await SignUpAsync(app, "twice@example.org", "other@example.org");
        await using (var scope = app.Services.CreateAsyncScope())
        {
            // The job "dies" right after the relay took the first email: the delete that records it fails.
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            await db.Database.ExecuteSqlRawAsync(db.Database.IsSqlite()
                ? """CREATE TRIGGER "test_die" BEFORE DELETE ON "PendingMails" BEGIN SELECT RAISE(ABORT, 'the job died here'); END"""
                : """
                  CREATE FUNCTION test_die() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the job died here'; END $$;
                  CREATE TRIGGER test_die BEFORE DELETE ON "PendingMails" FOR EACH ROW EXECUTE FUNCTION test_die();
                  """, Ct);
        }

        await Assert.ThrowsAnyAsync<Exception>(() => RunJobAsync(app, ids));
        Assert.Equal(["twice@example.org"], Received(smtp));
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            await db.Database.ExecuteSqlRawAsync(db.Database.IsSqlite() ? """DROP TRIGGER "test_die" """ : """DROP TRIGGER test_die ON "PendingMails" """, Ct);
        }

        // Hangfire's retry: the first email goes again (nothing recorded that it went), the second for the first time.
        await RunJobAsync(app, ids);

        var copies = smtp.Messages().Where(m => m.EnvelopeTo == "twice@example.org").Select(m => m.Message.MessageId).ToList();
        var other = smtp.Messages().Single(m => m.EnvelopeTo == "other@example.org").Message.MessageId;
        Assert.Equal(2, copies.Count);
        Assert.Equal(copies[0], copies[1]);
        Assert.NotEqual(copies[0], other);
        // Opaque: neither the row's nor the reader's number shows, so the id says nothing about the list's size.
        Assert.Matches("^mail-[0-9a-f]{32}@", copies[0]);
        Assert.Empty(await WaitingAsync(app));

        // Signing up again is a new email, with an id of its own, which no client folds into the first.
        var again = await SignUpAsync(app, "twice@example.org");
        await RunJobAsync(app, again);
        var third = smtp.Messages().Where(m => m.EnvelopeTo == "twice@example.org").Select(m => m.Message.MessageId).Distinct().ToList();
        Assert.Equal(2, third.Count);
    }

    [Fact]
    public async Task ThreeRefusalsInARowStopTheJobAndLeaveTheRestForItsRetry()
    {
        string[] refusedAddresses = ["r1@example.org", "r2@example.org", "r3@example.org"];
        await using var smtp = await SmtpServer.StartAsync(new { defer_always = refusedAddresses });
        using var app = App(smtp);
        var ids = await SignUpAsync(app, [.. refusedAddresses, "after@example.org"]);

        var stopped = await Assert.ThrowsAsync<MailNotSentYetException>(() => RunJobAsync(app, ids));

        Assert.Contains("4 of 4 reader emails wait", stopped.Message, StringComparison.Ordinal);
        Assert.Contains("stopped after 3 refusals in a row", stopped.Message, StringComparison.Ordinal);
        Assert.Empty(Received(smtp));
        Assert.Equal([.. refusedAddresses, "after@example.org"], await WaitingAsync(app));
    }

    [Fact]
    public async Task AnEmailNoLongerWantedIsDroppedNotSent()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = App(smtp);
        var ids = await SignUpAsync(app, "changed@example.org", "kept@example.org");
        await using (var scope = app.Services.CreateAsyncScope())
        {
            // Confirmed by another way before the job ran (an author's edit, an earlier link): no confirmation now.
            await scope.ServiceProvider.GetRequiredService<AppDbContext>().Subscribers.Where(s => s.EmailKey == "changed@example.org")
                .ExecuteUpdateAsync(u => u.SetProperty(s => s.Status, SubscriberStatus.Active), Ct);
        }

        await RunJobAsync(app, ids);

        Assert.Equal(["kept@example.org"], Received(smtp));
        Assert.Empty(await WaitingAsync(app));
    }

    [Fact]
    public async Task DeletingAReaderDropsTheirWaitingEmails()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = App(smtp);
        var ids = await SignUpAsync(app, "erased@example.org", "deleted@example.org", "stays@example.org");
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var readers = scope.ServiceProvider.GetRequiredService<ReaderLifecycle>();
            Assert.True(await readers.DeleteAsync(await db.Subscribers.Where(s => s.EmailKey == "erased@example.org").Select(s => s.Id).SingleAsync(Ct), erase: true, Ct));
            Assert.True(await readers.DeleteAsync(await db.Subscribers.Where(s => s.EmailKey == "deleted@example.org").Select(s => s.Id).SingleAsync(Ct), erase: false, Ct));
        }

        Assert.Equal(["stays@example.org"], await WaitingAsync(app));
        await using (var scope = app.Services.CreateAsyncScope())
        {
            // The rows name only an id, which the next reader may be given: none of the deleted ones' is left.
            Assert.Equal(1, await scope.ServiceProvider.GetRequiredService<AppDbContext>().PendingMails.CountAsync(Ct));
        }

        await RunJobAsync(app, ids);
        Assert.Equal(["stays@example.org"], Received(smtp));
    }
}

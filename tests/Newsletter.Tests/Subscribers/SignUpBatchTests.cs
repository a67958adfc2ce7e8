using Hangfire;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Subscribers;

namespace Newsletter.Tests.Subscribers;

/// <summary>
/// The dispatcher takes stored sign-ups a batch at a time in one transaction. These hold that a batch ends as
/// taking them one at a time would (suppressed, already on the list, twice in one batch, topics and names), that
/// a sign-up the database refuses holds back nothing else, and that two dispatchers on one batch take each
/// sign-up once. The app runs without its job server, so no dispatcher of its own takes the rows first.
/// </summary>
public class SignUpBatchTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static NewsletterApp AppWithoutDispatcher(Dictionary<string, string?>? settings = null) =>
        new(new(settings ?? []) { ["Jobs:Server"] = "false" });

    private static SignUpDispatcher Dispatcher(NewsletterApp app) => new(
        app.Services.GetRequiredService<IServiceScopeFactory>(), app.Services.GetRequiredService<SignUpSignal>(),
        TimeProvider.System, app.Services.GetRequiredService<ILoggerFactory>().CreateLogger<SignUpDispatcher>());

    private static async Task StoreAsync(NewsletterApp app, params SignUp[] signUps)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        foreach (var signUp in signUps)
        {
            signUp.Source = "home";
            signUp.ReceivedAt = DateTime.UtcNow;
        }

        db.SignUps.AddRange(signUps);
        await db.SaveChangesAsync(Ct);
    }

    /// <summary>A trigger makes the database refuse to insert the reader refused@example.org, as a broken row would.</summary>
    private static async Task RefuseReaderAsync(NewsletterApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        await db.Database.ExecuteSqlRawAsync(db.Database.IsSqlite()
            ? """CREATE TRIGGER "test_refuse" BEFORE INSERT ON "Subscribers" WHEN NEW."Email" = 'refused@example.org' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"""
            : """
              CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
              CREATE TRIGGER test_refuse BEFORE INSERT ON "Subscribers" FOR EACH ROW WHEN (NEW."Email" = 'refused@example.org') EXECUTE FUNCTION test_refuse();
              """, Ct);
    }

    /// <summary>
    /// Every reader email waiting in Hangfire, as "kind subscriber-email" (enqueued ones, then scheduled ones), and
    /// how many jobs carry them. The rows stay until their job sends them, marked as handed over.
    /// </summary>
    private static async Task<(List<string> Now, List<string> Later, int NowJobs)> JobsAsync(NewsletterApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var emails = await db.Subscribers.AsNoTracking().ToDictionaryAsync(s => s.Id, s => s.EmailKey, Ct);
        var rows = await db.PendingMails.AsNoTracking().ToDictionaryAsync(m => m.Id, Ct);
        Assert.All(rows.Values, r => Assert.Equal(PendingMails.HandedOver, r.ClaimedUntil));
        var monitor = app.Services.GetRequiredService<JobStorage>().GetMonitoringApi();
        IEnumerable<string> Describe(global::Hangfire.Common.Job job) =>
            ((long[])job.Args[0]!).Select(id => rows[id].Kind + " " + emails.GetValueOrDefault(rows[id].SubscriberId, "?"));
        var nowJobs = monitor.Queues().SelectMany(q => monitor.EnqueuedJobs(q.Name, 0, 1000)).Select(j => j.Value.Job).Where(j => j.Type == typeof(SubscriberMailJob)).ToList();
        var later = monitor.ScheduledJobs(0, 1000).Select(j => j.Value.Job).Where(j => j.Type == typeof(SubscriberMailJob)).SelectMany(Describe).Order().ToList();
        var now = nowJobs.SelectMany(Describe).Order().ToList();
        Assert.Equal(rows.Count, now.Count + later.Count);
        return (now, later, nowJobs.Count);
    }

    [Fact]
    public async Task ABatchEndsAsTakingItsSignUpsOneAtATimeWould()
    {
        using var app = AppWithoutDispatcher();
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            db.Subscribers.Add(new Subscriber { Email = "known@example.org", EmailKey = "known@example.org", Status = SubscriberStatus.Active, Source = "import", CreatedAt = DateTime.UtcNow.AddDays(-30) });
            db.Suppressions.Add(new Suppression { EmailHash = app.AddressHash("gone@example.org"), Reason = SuppressionReason.Erased });
            await db.SaveChangesAsync(Ct);
        }

        await StoreAsync(
            app,
            new SignUp { Email = "new1@example.org", Topics = "essays\nlinks" },
            new SignUp { Email = "known@example.org" },
            new SignUp { Email = "NEW1@example.org", Name = "A stranger", Topics = "links" },
            new SignUp { Email = "gone@example.org" },
            new SignUp { Email = "new2@example.org", Name = "Ada\r\nBcc: x@evil.example\u0007" });

        Assert.Equal(5, await Dispatcher(app).DispatchAsync(Ct));

        await using var read = app.Services.CreateAsyncScope();
        var rdb = read.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.False(await rdb.SignUps.AnyAsync(Ct));
        var readers = await rdb.Subscribers.AsNoTracking().Include(s => s.Tags).OrderBy(s => s.EmailKey).ToListAsync(Ct);
        Assert.Equal(["known@example.org", "new1@example.org", "new2@example.org"], readers.Select(r => r.EmailKey));
        var new1 = readers[1];
        // The first sign-up of an address makes the reader; the second, a stranger's, changes neither name nor topics.
        Assert.Equal(("new1@example.org", SubscriberStatus.Pending, (string?)null), (new1.Email, new1.Status, new1.Name));
        Assert.Equal(["essays", "links"], new1.Tags.Select(t => t.Tag).Order());
        Assert.Equal("Ada Bcc: x@evil.example", readers[2].Name);
        Assert.Equal(SubscriberStatus.Active, readers[0].Status);
        var history = await rdb.SubscriberEvents.AsNoTracking().Where(e => e.Kind == SubscriberEventKind.Subscribed).Select(e => e.SubscriberId).ToListAsync(Ct);
        Assert.Equal([new1.Id, readers[2].Id], history.Order());

        // Confirmations for the two new readers now, the repeat's when the resend interval is up, the notice to
        // the reader already on the list, nothing for the suppressed address.
        // The ones due now go in one job.
        var (now, later, nowJobs) = await JobsAsync(app);
        Assert.Equal(["AlreadySubscribed known@example.org", "Confirmation new1@example.org", "Confirmation new2@example.org"], now);
        Assert.Equal(["Confirmation new1@example.org"], later);
        Assert.Equal(1, nowJobs);
    }

    [Fact]
    public async Task ASignUpTheDatabaseRefusesWaitsAloneAndTheRestOfItsBatchBecomeReaders()
    {
        using var app = AppWithoutDispatcher();
        await RefuseReaderAsync(app);

        await StoreAsync(app, new SignUp { Email = "a@example.org" }, new SignUp { Email = "refused@example.org" }, new SignUp { Email = "b@example.org" });

        Assert.Equal(2, await Dispatcher(app).DispatchAsync(Ct));

        await using var read = app.Services.CreateAsyncScope();
        var rdb = read.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(["a@example.org", "b@example.org"], await rdb.Subscribers.AsNoTracking().OrderBy(s => s.EmailKey).Select(s => s.EmailKey).ToListAsync(Ct));
        var waiting = await rdb.SignUps.AsNoTracking().SingleAsync(Ct);
        Assert.Equal(("refused@example.org", 1), (waiting.Email, waiting.Attempts));
        Assert.True(waiting.RetryAt > DateTime.UtcNow, "the refused sign-up waits before it is tried again");
        Assert.Equal(["Confirmation a@example.org", "Confirmation b@example.org"], (await JobsAsync(app)).Now);
    }

    [Fact]
    public async Task AnAddressPastItsHourlyLimitIsDroppedWhenItsSignUpIsTakenInABatchOrAlone()
    {
        // Every sign-up that passes the limit mails a confirmation, so the mails count the passes.
        using var app = AppWithoutDispatcher(new() { ["Subscriptions:PerAddressPerHour"] = "2", ["Subscriptions:ResendConfirmationInterval"] = "00:00:00" });
        await StoreAsync(
            app,
            new SignUp { Email = "busy@example.org" },
            new SignUp { Email = "calm@example.org" },
            new SignUp { Email = "Busy@Example.org" },
            new SignUp { Email = "busy@example.org" },
            new SignUp { Email = "busy@example.org" });

        Assert.Equal(5, await Dispatcher(app).DispatchAsync(Ct));
        Assert.Equal(["Confirmation busy@example.org", "Confirmation busy@example.org", "Confirmation calm@example.org"], (await JobsAsync(app)).Now);

        // The count outlives the batch: within the hour the address gets nothing more, on the one-at-a-time way
        // too (a refused insert sends the whole batch there), while another address in that batch still can.
        await RefuseReaderAsync(app);

        await StoreAsync(app, new SignUp { Email = "busy@example.org" }, new SignUp { Email = "refused@example.org" }, new SignUp { Email = "calm@example.org" });
        Assert.Equal(2, await Dispatcher(app).DispatchAsync(Ct));

        await using var read = app.Services.CreateAsyncScope();
        var rdb = read.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal("refused@example.org", (await rdb.SignUps.AsNoTracking().SingleAsync(Ct)).Email);
        Assert.Equal(["busy@example.org", "calm@example.org"], await rdb.Subscribers.AsNoTracking().OrderBy(s => s.EmailKey).Select(s => s.EmailKey).ToListAsync(Ct));
        Assert.Equal(["Confirmation busy@example.org", "Confirmation busy@example.org", "Confirmation calm@example.org", "Confirmation calm@example.org"], (await JobsAsync(app)).Now);
    }

    /// <summary>ann+1@ and ann+2@ reach one inbox: a stranger cycling the +tag gets it no more confirmations than the limit.</summary>
    [Fact]
    public async Task PlusTagsOfOneMailboxShareItsHourlyLimit()
    {
        using var app = AppWithoutDispatcher(new() { ["Subscriptions:PerAddressPerHour"] = "2", ["Subscriptions:ResendConfirmationInterval"] = "00:00:00" });
        await StoreAsync(app, [.. new[] { "bomb+1@example.org", "bomb+2@example.org", "bomb@example.org", "bomb+x+y@example.org", "other+1@example.org" }.Select(e => new SignUp { Email = e })]);

        Assert.Equal(5, await Dispatcher(app).DispatchAsync(Ct));
        Assert.Equal(["Confirmation bomb+1@example.org", "Confirmation bomb+2@example.org", "Confirmation other+1@example.org"], (await JobsAsync(app)).Now);
        Assert.Equal("ann@example.org", ReaderLifecycle.MailboxKey("ann+news@example.org"));
        Assert.Equal("+ann@example.org", ReaderLifecycle.MailboxKey("+ann@example.org"));
        Assert.Equal("ann@ex+ample.org", ReaderLifecycle.MailboxKey("ann@ex+ample.org"));
    }

    [Fact]
    public async Task TwoDispatchersOnOneBatchTakeEachSignUpOnce()
    {
        using var app = AppWithoutDispatcher();
        var emails = Enumerable.Range(0, 60).Select(i => $"r{i}@example.org").ToArray();
        await StoreAsync(app, [.. emails.Select(e => new SignUp { Email = e })]);

        // Two nodes' dispatchers see the same due rows; on PostgreSQL their deletes race for the rows' locks.
        var taken = await Task.WhenAll(Dispatcher(app).DispatchAsync(Ct), Dispatcher(app).DispatchAsync(Ct));

        Assert.Equal(emails.Length, taken.Sum());
        await using var read = app.Services.CreateAsyncScope();
        var rdb = read.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(emails.Order(StringComparer.Ordinal), await rdb.Subscribers.AsNoTracking().OrderBy(s => s.EmailKey).Select(s => s.EmailKey).ToListAsync(Ct));
        Assert.False(await rdb.SignUps.AnyAsync(Ct));
        Assert.Equal(emails.Select(e => "Confirmation " + e).Order(), (await JobsAsync(app)).Now);
    }
}

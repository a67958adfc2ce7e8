using System.Collections.Concurrent;
using System.Net;
using Hangfire;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Subscribers;

namespace Newsletter.Tests.Subscribers;

/// <summary>
/// A sign-up the form answered is on disk, and the confirmation a reader's transaction decided on is stored
/// with the reader: a process killed at any moment loses neither, and the next start finishes the work.
/// </summary>
public class SignUpDurabilityTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AKillWhileSignUpsWaitOnTheDatabaseLosesNoneThatWasAnswered()
    {
        var settings = new Dictionary<string, string>
        {
            ["Subscriptions__PerIpPerMinute"] = "1000000",
            ["Subscriptions__PerAddressPerHour"] = "1000",
            // A confirmation job the killed process had fetched runs again when its fetch runs out: 5 minutes by
            // default, shortened as in the sending crash tests so the test waits seconds, not minutes.
            ["Jobs__Sqlite__InvisibilityTimeout"] = "00:00:10",
        };
        var answered = new ConcurrentBag<string>();
        var refused = new ConcurrentBag<string>();
        string root;
        // A busy machine as well as a stalled database: the writer, the visitors and the dispatcher lose their
        // cores for whole time slices, which is when an answer could overtake its commit if the order were wrong.
        using var burner = new CpuBurner(perCore: 1);
        await using (var first = new AppProcess(settings, sampleNotes: false))
        {
            root = first.Root;
            await first.StartAsync();
            using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(first.BaseUrl), Timeout = TimeSpan.FromMinutes(2) };
            using var stop = new CancellationTokenSource();
            var visitors = Enumerable.Range(0, 16).Select(v => Task.Run(async () =>
            {
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    var email = $"v{v}n{i}@example.org";
                    try
                    {
                        var response = await http.PostAsync("/subscribe", new FormUrlEncodedContent(new Dictionary<string, string> { ["email"] = email, ["source"] = "home" }), stop.Token);
                        if (response.StatusCode == HttpStatusCode.Redirect && response.Headers.Location?.OriginalString == "/subscribe/check-your-inbox")
                        {
                            answered.Add(email);
                        }
                        else
                        {
                            refused.Add($"{email}: {(int)response.StatusCode}");
                        }
                    }
                    catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
                    {
                        // The process was killed with this request unanswered: whether it was stored is not promised.
                        return;
                    }
                }
            }, Ct)).ToList();

            var deadline = DateTime.UtcNow.AddMinutes(2);
            while (answered.Count < 300 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50, Ct);
            }

            Assert.True(answered.Count >= 300, $"only {answered.Count} sign-ups answered in two minutes; refused: {string.Join(", ", refused.Take(5))}");

            // A stall, on purpose: another connection holds SQLite's write lock, so the writer's next commit waits
            // with the visitors' requests queued behind it. None of them may be answered while it waits.
            await using var stall = new SqliteConnection($"Data Source={Path.Combine(first.DataFolder, "newsletter.db")};Pooling=false");
            await stall.OpenAsync(Ct);
            await using (var begin = stall.CreateCommand())
            {
                begin.CommandText = "PRAGMA busy_timeout = 30000; BEGIN IMMEDIATE;";
                await begin.ExecuteNonQueryAsync(Ct);
            }

            await Task.Delay(TimeSpan.FromSeconds(2), Ct);
            first.KillHard();
            await stop.CancelAsync();
            await Task.WhenAll(visitors);

            // Nothing could commit since the lock was taken, so what the file holds now is all the killed process
            // stored: every sign-up it answered must be in it, as a sign-up or already as a reader. An answer sent
            // before its commit would show here, however late the answer reached the visitor on a busy machine.
            var stored = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            await using (var read = stall.CreateCommand())
            {
                read.CommandText = "SELECT \"Email\" FROM \"SignUps\" UNION ALL SELECT \"EmailKey\" FROM \"Subscribers\"";
                await using var rows = await read.ExecuteReaderAsync(Ct);
                while (await rows.ReadAsync(Ct))
                {
                    stored.Add(rows.GetString(0));
                }
            }

            var notStored = answered.Where(a => !stored.Contains(a)).ToList();
            Assert.True(notStored.Count == 0, $"{notStored.Count} sign-ups were answered but not stored, e.g. {string.Join(", ", notStored.Take(5))}");
            Assert.Empty(refused);
        }

        // The next start, on the same folder: every answered sign-up becomes a reader with a confirmation.
        await using var second = new AppProcess(settings, sampleNotes: false, root: root);
        await second.StartAsync();
        var expected = answered.ToHashSet(StringComparer.OrdinalIgnoreCase);
        var confirmations = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        var until = DateTime.UtcNow.AddMinutes(3);
        while (DateTime.UtcNow < until)
        {
            confirmations = Outbox.Read(second.PickupFolder)
                .Where(m => m.TextBody?.Contains("/confirm/", StringComparison.Ordinal) == true)
                .GroupBy(m => m.To.Mailboxes.First().Address, StringComparer.OrdinalIgnoreCase)
                .ToDictionary(g => g.Key, g => g.Count(), StringComparer.OrdinalIgnoreCase);
            if (expected.All(confirmations.ContainsKey))
            {
                break;
            }

            await Task.Delay(500, Ct);
        }

        var missing = expected.Where(e => !confirmations.ContainsKey(e)).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} of {expected.Count} answered sign-ups got no confirmation, e.g. {string.Join(", ", missing.Take(5))}\n{second.Log}");

        var options = new DbContextOptionsBuilder<AppDbContext>();
        options.UseDatabase(DatabaseProvider.Sqlite, $"Data Source={Path.Combine(second.DataFolder, "newsletter.db")};Pooling=false");
        await using var db = new AppDbContext(options.Options);
        var readers = await db.Subscribers.AsNoTracking().Select(s => s.EmailKey).ToListAsync(Ct);
        Assert.Subset(readers.ToHashSet(StringComparer.OrdinalIgnoreCase), expected);
        Assert.Empty(await db.SignUps.ToListAsync(Ct));
        // A second copy of a confirmation is possible only for a process dying between handing it to Hangfire
        // and marking its row as handed over; more than two would be a loop.
        Assert.All(confirmations, c => Assert.True(c.Value <= 2, $"{c.Key} got {c.Value} confirmations"));
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{expected.Count} answered before the kill; {readers.Count} readers after the restart; {confirmations.Count(c => c.Value > 1)} with two confirmations");
    }

    [Fact]
    public async Task WhatADeadProcessLeftIsFinishedByTheNextOne()
    {
        using var app = new NewsletterApp();
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            // As a process killed after committing the reader, before handing the confirmation to Hangfire, leaves it.
            var pending = new Subscriber { Email = "left@example.org", EmailKey = "left@example.org", Status = SubscriberStatus.Pending, Source = "home", LastConfirmationSentAt = DateTime.UtcNow };
            db.Subscribers.Add(pending);
            await db.SaveChangesAsync(Ct);
            db.PendingMails.Add(new PendingMail { SubscriberId = pending.Id, Kind = PendingMailKind.Confirmation, DueAt = DateTime.UtcNow, ClaimedUntil = DateTime.UtcNow.AddSeconds(-1) });
            // And one killed right after a confirmation's commit, before its welcome email was handed over.
            var confirmed = new Subscriber { Email = "welcome@example.org", EmailKey = "welcome@example.org", Status = SubscriberStatus.Active, Source = "home", ConfirmedAt = DateTime.UtcNow };
            db.Subscribers.Add(confirmed);
            await db.SaveChangesAsync(Ct);
            db.PendingMails.Add(new PendingMail { SubscriberId = confirmed.Id, Kind = PendingMailKind.Welcome, DueAt = DateTime.UtcNow, ClaimedUntil = DateTime.UtcNow.AddSeconds(-1) });
            // And as one killed after answering a sign-up, before taking it.
            db.SignUps.Add(new SignUp { Email = "answered@example.org", Source = "home", ReceivedAt = DateTime.UtcNow });
            await db.SaveChangesAsync(Ct);
        }

        Assert.Contains("/confirm/", (await app.WaitForMailAsync("left@example.org")).TextBody, StringComparison.Ordinal);
        Assert.Contains("/confirm/", (await app.WaitForMailAsync("answered@example.org")).TextBody, StringComparison.Ordinal);
        await app.WaitForMailAsync("welcome@example.org", m => m.Subject?.Contains("Welcome", StringComparison.OrdinalIgnoreCase) == true);
        // Each row goes once its email went.
        await SubscribeTests.WaitForIdleJobsAsync(app);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            Assert.Empty(await db.PendingMails.ToListAsync(Ct));
            Assert.Empty(await db.SignUps.ToListAsync(Ct));
            Assert.Equal(SubscriberStatus.Pending, (await db.Subscribers.SingleAsync(s => s.EmailKey == "answered@example.org", Ct)).Status);
        }
    }

    [Fact]
    public async Task AClaimedConfirmationIsLeftToItsWriterUntilTheClaimRunsOut()
    {
        using var app = new NewsletterApp();
        long id;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var pending = new Subscriber { Email = "claimed@example.org", EmailKey = "claimed@example.org", Status = SubscriberStatus.Pending, Source = "home" };
            db.Subscribers.Add(pending);
            await db.SaveChangesAsync(Ct);
            var mail = new PendingMail { SubscriberId = pending.Id, Kind = PendingMailKind.Confirmation, DueAt = DateTime.UtcNow, ClaimedUntil = DateTime.UtcNow.AddMinutes(5) };
            db.PendingMails.Add(mail);
            await db.SaveChangesAsync(Ct);
            id = mail.Id;
            // Another node's sweep, now: the row is its writer's, so nothing is handed over twice.
            Assert.Equal(0, await scope.ServiceProvider.GetRequiredService<PendingMails>().SweepAsync(Ct));
            Assert.True(await db.PendingMails.AnyAsync(m => m.Id == id, Ct));
        }
    }

    [Fact]
    public async Task WhileTheJobQueueIsUnreachableReadersAreKeptAndToldSoAndTheirEmailsGoOnceItIsBack()
    {
        using var app = new NewsletterApp();
        var queue = new UnreachableJobQueue();
        // Only the app's job client fails, as when Hangfire's storage refuses connections: the job server and the
        // app's own database go on.
        using var node = app.WithWebHostBuilder(b => b.ConfigureTestServices(queue.Wrap));
        var client = node.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        Assert.Equal(HttpStatusCode.Redirect, (await SubscribeTests.SubscribeAsync(client, "early@example.org")).StatusCode);
        var confirm = Outbox.PathOf(Outbox.Link(await app.WaitForMailAsync("early@example.org"), "/confirm/"));

        queue.Down = true;
        Assert.Equal(HttpStatusCode.Redirect, (await SubscribeTests.SubscribeAsync(client, "late@example.org")).StatusCode);
        // The confirmation commits, so the reader is told it did, not shown an error for an email still to come.
        var confirmed = await Forms.PostAsync(client, confirm, new Dictionary<string, string>());
        Assert.Equal(HttpStatusCode.OK, confirmed.StatusCode);
        Assert.Contains("You're subscribed", await confirmed.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        await WaitUntilAsync(node, async db => !await db.SignUps.AnyAsync(Ct) && await db.Subscribers.AnyAsync(s => s.EmailKey == "late@example.org", Ct),
            "the sign-up was not taken:\n" + app.ServerLog);

        await using (var scope = node.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            Assert.Equal(SubscriberStatus.Active, (await db.Subscribers.SingleAsync(s => s.EmailKey == "early@example.org", Ct)).Status);
            // Both emails wait in the database, not handed over, for the sweep.
            var waiting = await db.PendingMails.Where(m => m.ClaimedUntil != PendingMails.HandedOver)
                .Join(db.Subscribers, m => m.SubscriberId, s => s.Id, (m, s) => new { s.EmailKey, m.Kind }).OrderBy(x => x.EmailKey).ToListAsync(Ct);
            Assert.Equal(["early@example.org Welcome", "late@example.org Confirmation"], waiting.Select(w => $"{w.EmailKey} {w.Kind}"));
            // Claimed for a minute as if its writer had died: the sweep leaves them alone until then.
            Assert.Equal(0, await scope.ServiceProvider.GetRequiredService<PendingMails>().SweepAsync(Ct));
        }

        // What the log says is what happened: the batch was kept, only its emails' hand-over failed.
        Assert.Contains(app.ServerLog.Entries, e => e.Contains("Could not hand 1 stored reader emails to the job queue", StringComparison.Ordinal));
        Assert.DoesNotContain(app.ServerLog.Entries, e => e.Contains("Could not take", StringComparison.Ordinal));
        Assert.Single(Directory.GetFiles(app.PickupFolder, "*.eml", SearchOption.AllDirectories));

        // The queue is back and the minute has passed: the sweep hands them over, each sent once.
        queue.Down = false;
        await using (var scope = node.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            await db.PendingMails.Where(m => m.ClaimedUntil != PendingMails.HandedOver).ExecuteUpdateAsync(u => u.SetProperty(m => m.ClaimedUntil, DateTime.UtcNow.AddSeconds(-1)), Ct);
        }

        Assert.Contains("/confirm/", (await app.WaitForMailAsync("late@example.org")).TextBody, StringComparison.Ordinal);
        await app.WaitForMailAsync("early@example.org", m => m.Subject?.Contains("Welcome", StringComparison.OrdinalIgnoreCase) == true);
        await WaitUntilAsync(node, async db => !await db.PendingMails.AnyAsync(Ct), "reader emails still waiting:\n" + app.ServerLog);

        Assert.Equal(3, Directory.GetFiles(app.PickupFolder, "*.eml", SearchOption.AllDirectories).Length);
    }

    /// <summary>Polls the app's database for up to a minute (a loaded CI machine takes its time) until <paramref name="done"/> holds.</summary>
    private static async Task WaitUntilAsync(WebApplicationFactory<Program> node, Func<AppDbContext, Task<bool>> done, string failure)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            await using var scope = node.Services.CreateAsyncScope();
            if (await done(scope.ServiceProvider.GetRequiredService<AppDbContext>()))
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(100, Ct);
        }
    }

    /// <summary>The app's Hangfire client, refusing every job while <see cref="Down"/> is set.</summary>
    private sealed class UnreachableJobQueue
    {
        public volatile bool Down;

        public void Wrap(IServiceCollection services)
        {
            var original = services.Last(d => d.ServiceType == typeof(IBackgroundJobClient));
            services.Remove(original);
            services.AddSingleton<IBackgroundJobClient>(sp => new Client(this, (IBackgroundJobClient)(original.ImplementationInstance ?? original.ImplementationFactory!(sp))));
        }

        private sealed class Client(UnreachableJobQueue queue, IBackgroundJobClient inner) : IBackgroundJobClient
        {
            public string Create(global::Hangfire.Common.Job job, global::Hangfire.States.IState state) =>
                queue.Down ? throw Unreachable() : inner.Create(job, state);

            public bool ChangeState(string jobId, global::Hangfire.States.IState state, string expectedState) =>
                queue.Down ? throw Unreachable() : inner.ChangeState(jobId, state, expectedState);

            private static BackgroundJobClientException Unreachable() => new("Job storage unreachable (the test's)", new TimeoutException());
        }
    }
}

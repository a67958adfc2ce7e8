using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Segments;
using Newsletter.Web.Sending;
using Newsletter.Web.Subscribers;
using static Newsletter.Tests.Sending.SendingFixture;

namespace Newsletter.Tests.Segments;

/// <summary>Segments on real data: each condition counted and snapshotted by the same SQL, readers' topic choices, hostile input.</summary>
public sealed class SegmentTests
{
    /// <summary>
    /// Six readers: r0 [rust] joined Jan, r1 [rust, go] Feb, r2 [go] Mar, r3 [] Apr, r4 [rust] "only my topics" May,
    /// r5 [go] unsubscribed. An earlier issue reached r0 and r2 (Sent) and failed for r1.
    /// </summary>
    private static async Task<(long[] R, int Earlier)> SeedAsync(NewsletterApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Subscriber Reader(int i, int month, bool only = false, SubscriberStatus status = SubscriberStatus.Active, params string[] tags)
        {
            var email = $"r{i}@example.org";
            return new Subscriber
            {
                Email = email, EmailKey = email, Status = status, Source = "test", ConfirmedAt = DateTime.UtcNow, TopicsOnly = only,
                CreatedAt = new DateTime(2026, month, 10, 12, 0, 0, DateTimeKind.Utc), Tags = [.. tags.Select(t => new SubscriberTag { Tag = t })],
            };
        }

        List<Subscriber> readers =
        [
            Reader(0, 1, tags: "rust"), Reader(1, 2, tags: ["rust", "go"]), Reader(2, 3, tags: "go"), Reader(3, 4),
            Reader(4, 5, only: true, tags: "rust"), Reader(5, 6, status: SubscriberStatus.Unsubscribed, tags: "go"),
        ];
        db.Subscribers.AddRange(readers);
        var earlier = new Issue { Subject = "Earlier", Slug = "earlier", Number = 1, Status = IssueStatus.Sent, PublishedAt = DateTime.UtcNow };
        db.Issues.Add(earlier);
        await db.SaveChangesAsync(Ct);
        db.Deliveries.AddRange(
            new Delivery { IssueId = earlier.Id, SubscriberId = readers[0].Id, Status = DeliveryStatus.Sent },
            new Delivery { IssueId = earlier.Id, SubscriberId = readers[2].Id, Status = DeliveryStatus.Sent },
            new Delivery { IssueId = earlier.Id, SubscriberId = readers[1].Id, Status = DeliveryStatus.Failed });
        await db.SaveChangesAsync(Ct);
        return ([.. readers.Select(r => r.Id)], earlier.Id);
    }

    /// <summary>What the editor's count says, and who the send's snapshot takes, for an issue tagged <paramref name="tags"/>.</summary>
    private static async Task<(int Count, long[] Snapshot)> CountAndSnapshotAsync(NewsletterApp app, Segment segment, params string[] tags)
    {
        var issueId = await AddIssueAsync(app, subject: "Segment " + Guid.NewGuid().ToString("N")[..8], segment: segment, tags: tags);
        await using var scope = app.Services.CreateAsyncScope();
        var sp = scope.ServiceProvider;
        var count = await sp.GetRequiredService<Audiences>().CountAsync(segment, tags, Ct);
        Assert.Equal(count, await sp.GetRequiredService<Audiences>().CountAsync(issueId, Ct));
        var issue = await sp.GetRequiredService<AppDbContext>().Issues.AsNoTracking().SingleAsync(i => i.Id == issueId, Ct);
        var snapshotted = await sp.GetRequiredService<Ledger>().SnapshotAsync(issue, Ct);
        // A second run adds nobody: the ledger's rule still holds with a segment.
        Assert.Equal(snapshotted, await sp.GetRequiredService<Ledger>().SnapshotAsync(issue, Ct));
        var ids = await sp.GetRequiredService<AppDbContext>().Deliveries.Where(d => d.IssueId == issueId).Select(d => d.SubscriberId).OrderBy(x => x).ToListAsync(Ct);
        return (count, [.. ids]);
    }

    [Fact]
    public async Task EachConditionCountsAndSnapshotsExactlyTheMatchingReaders()
    {
        using var app = new NewsletterApp(new() { ["Site:TimeZone"] = "UTC" });
        var (r, earlier) = await SeedAsync(app);
        var cases = new (string Name, Segment Segment, string[] IssueTags, long[] Expected)[]
        {
            ("everyone, issue on rust", Segment.Everyone, ["rust"], [r[0], r[1], r[2], r[3], r[4]]),
            ("everyone, issue on nothing: r4 wants only rust", Segment.Everyone, [], [r[0], r[1], r[2], r[3]]),
            ("everyone, issue on go: r4 wants only rust", Segment.Everyone, ["go"], [r[0], r[1], r[2], r[3]]),
            ("any of rust", new Segment { Topics = ["rust"] }, ["rust"], [r[0], r[1], r[4]]),
            ("any of rust, go", new Segment { Topics = ["rust", "go"] }, ["rust"], [r[0], r[1], r[2], r[4]]),
            ("all of rust, go", new Segment { Topics = ["rust", "go"], Match = TopicMatch.All }, ["rust"], [r[1]]),
            ("joined on or after 1 March", new Segment { JoinedFrom = new DateOnly(2026, 3, 1) }, ["rust"], [r[2], r[3], r[4]]),
            ("joined before 1 March", new Segment { JoinedBefore = new DateOnly(2026, 3, 1) }, ["rust"], [r[0], r[1]]),
            ("joined in February or March", new Segment { JoinedFrom = new DateOnly(2026, 2, 1), JoinedBefore = new DateOnly(2026, 4, 1) }, ["rust"], [r[1], r[2]]),
            ("got the earlier issue", new Segment { GotIssue = earlier }, ["rust"], [r[0], r[2]]),
            ("did not get the earlier issue (a failure is not getting it)", new Segment { MissedIssue = earlier }, ["rust"], [r[1], r[3], r[4]]),
            ("go readers who missed the earlier issue", new Segment { Topics = ["go"], MissedIssue = earlier }, ["rust"], [r[1]]),
        };
        foreach (var (name, segment, tags, expected) in cases)
        {
            var (count, snapshot) = await CountAndSnapshotAsync(app, segment, tags);
            Assert.True(expected.Order().SequenceEqual(snapshot), $"{name}: snapshot took [{string.Join(", ", snapshot)}], expected [{string.Join(", ", expected.Order())}]");
            Assert.True(expected.Length == count, $"{name}: counted {count}, expected {expected.Length}");
        }
    }

    [Fact]
    public async Task AReaderWhoChoseOnlyTheirTopicsGetsOnlyIssuesOnThemAndOneWhoChoseEverythingGetsAll()
    {
        using var app = new NewsletterApp();
        var offered = new[] { "rust", "go" };
        long only, everything, none;
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var readers = new[] { "only", "everything", "none" }.Select(n => new Subscriber { Email = $"{n}@example.org", EmailKey = $"{n}@example.org", Status = SubscriberStatus.Active, Source = "test" }).ToList();
            db.Subscribers.AddRange(readers);
            await db.SaveChangesAsync(Ct);
            (only, everything, none) = (readers[0].Id, readers[1].Id, readers[2].Id);
            var lifecycle = scope.ServiceProvider.GetRequiredService<ReaderLifecycle>();
            await lifecycle.ChangePreferencesAsync(only, null, offered, ["rust"], topicsOnly: true, null, Ct);
            await lifecycle.ChangePreferencesAsync(everything, null, offered, ["rust"], topicsOnly: false, null, Ct);
            // "Only" with nothing ticked would be nothing at all: it stays everything.
            await lifecycle.ChangePreferencesAsync(none, null, offered, [], topicsOnly: true, null, Ct);
            Assert.False(await db.Subscribers.Where(s => s.Id == none).Select(s => s.TopicsOnly).SingleAsync(Ct));
        }

        Assert.Equal([only, everything, none], (await CountAndSnapshotAsync(app, Segment.Everyone, "rust", "databases")).Snapshot.Order());
        Assert.Equal([everything, none], (await CountAndSnapshotAsync(app, Segment.Everyone, "go")).Snapshot.Order());
        Assert.Equal([everything, none], (await CountAndSnapshotAsync(app, Segment.Everyone)).Snapshot.Order());
    }

    [Fact]
    public async Task HostileSegmentsAreRefusedWithAClearReason()
    {
        using var app = new NewsletterApp();
        var (_, earlier) = await SeedAsync(app);
        var draft = await AddIssueAsync(app, subject: "Draft with a segment");
        await using var scope = app.Services.CreateAsyncScope();
        var editor = scope.ServiceProvider.GetRequiredService<IssueEditor>();
        async Task<string> RefusedAsync(SegmentInput input)
        {
            var result = await editor.SaveAsync(draft, new IssueDraft("Draft with a segment", null, null, "Body", [], [], input, IssueChannel.Both), Ct);
            Assert.Equal(IssueEditOutcome.Invalid, result.Outcome);
            return string.Join(" ", result.Errors.Values.SelectMany(v => v));
        }

        Assert.Contains("Unknown topic: 'no-such-topic'", await RefusedAsync(new(["no-such-topic"], null, null, null, null, null)), StringComparison.Ordinal);
        Assert.Contains("at most 20 topics", await RefusedAsync(new([.. Enumerable.Range(0, 5000).Select(i => $"t{i}")], null, null, null, null, null)), StringComparison.Ordinal);
        Assert.Contains("Use YYYY-MM-DD", await RefusedAsync(new([], null, "01/03/2026", null, null, null)), StringComparison.Ordinal);
        Assert.Contains("Use YYYY-MM-DD", await RefusedAsync(new([], null, null, "2026-02-30", null, null)), StringComparison.Ordinal);
        Assert.Contains("'any'", await RefusedAsync(new(["rust"], "most", null, null, null, null)), StringComparison.Ordinal);
        Assert.Contains("no earlier issue 99999", await RefusedAsync(new([], null, null, null, "99999", null)), StringComparison.Ordinal);
        Assert.Contains("no earlier issue", await RefusedAsync(new([], null, null, null, $"{earlier} OR 1=1", null)), StringComparison.Ordinal);
        Assert.Contains("no earlier issue", await RefusedAsync(new([], null, null, null, null, draft.ToString(System.Globalization.CultureInfo.InvariantCulture))), StringComparison.Ordinal);
        Assert.Contains("both have got and not have got", await RefusedAsync(new([], null, null, null, $"{earlier}", $"{earlier}")), StringComparison.Ordinal);
        Assert.Contains("later day", await RefusedAsync(new([], null, "2026-05-01", "2026-04-01", null, null)), StringComparison.Ordinal);

        // A value made of SQL is a topic like any other: unknown, refused, and never part of a statement.
        Assert.Contains("Unknown topic", await RefusedAsync(new(["rust') OR 1=1 --"], null, null, null, null, null)), StringComparison.Ordinal);

        var saved = await editor.SaveAsync(draft, new IssueDraft("Draft with a segment", null, null, "Body", [], ["rust"], new(["RUST", "go", " "], "all", "2026-01-01", null, $"{earlier}", null), IssueChannel.Both), Ct);
        Assert.Equal(IssueEditOutcome.Saved, saved.Outcome);
        var issue = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Issues.AsNoTracking().SingleAsync(i => i.Id == draft, Ct);
        Assert.Equal(new Segment { Topics = ["rust", "go"], Match = TopicMatch.All, JoinedFrom = new DateOnly(2026, 1, 1), GotIssue = earlier }.ToJson(), issue.Segment.ToJson());
    }

    [Fact]
    public async Task TheEditorsLiveCountAnswersForTheFormsSegmentAndNamesWhatIsWrong()
    {
        using var app = new NewsletterApp();
        var (_, earlier) = await SeedAsync(app);
        var draft = await AddIssueAsync(app, subject: "Counted");
        var author = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(author);

        var count = await author.GetFromJsonAsync<JsonElement>($"/admin/issues/{draft}?handler=Count&segmentTopics=rust&segmentTopics=go&segmentMatch=all&tags=rust", Ct);
        Assert.Equal(1, count.GetProperty("count").GetInt32());
        count = await author.GetFromJsonAsync<JsonElement>($"/admin/issues/{draft}?handler=Count&gotIssue={earlier}", Ct);
        Assert.Equal(2, count.GetProperty("count").GetInt32());

        var refused = await author.GetAsync($"/admin/issues/{draft}?handler=Count&segmentTopics=nope&joinedFrom=yesterday", Ct);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        var body = await refused.Content.ReadAsStringAsync(Ct);
        Assert.Contains("Unknown topic", body, StringComparison.Ordinal);
        Assert.Contains("YYYY-MM-DD", body, StringComparison.Ordinal);

        // Without a session there is no count: it tells who reads the newsletter.
        using var stranger = app.CreateBrowserClient();
        Assert.NotEqual(HttpStatusCode.OK, (await stranger.GetAsync($"/admin/issues/{draft}?handler=Count", Ct)).StatusCode);
    }

    [Fact]
    public async Task ASendToASegmentReachesExactlyTheMatchingReadersThroughSmtp()
    {
        await using var smtp = await SmtpServer.StartAsync();
        using var app = new NewsletterApp(Settings(smtp, new() { ["Site:TimeZone"] = "UTC" }));
        var (_, earlier) = await SeedAsync(app);
        var issueId = await AddIssueAsync(app, subject: "Rust readers who missed the first one",
            segment: new Segment { Topics = ["rust"], MissedIssue = earlier }, tags: "rust");
        await SendNowAsync(app, issueId);
        var sent = await WaitForStatusAsync(app, issueId, IssueStatus.Sent);
        Assert.Equal(2, sent.RecipientCount);
        Assert.Equal(["r1@example.org", "r4@example.org"], smtp.Messages().Select(m => m.EnvelopeTo).Order());
    }

    [Fact]
    public async Task TheSubscribeFormOffersTheConfiguredTopicsAndStoresOnlyThose()
    {
        using var app = new NewsletterApp(new() { ["Subscriptions:Topics:0"] = "Rust", ["Subscriptions:Topics:1"] = "go" });
        using var client = app.CreateBrowserClient();
        var home = await client.GetStringAsync("/", Ct);
        Assert.Contains("name=\"topics\" value=\"rust\"", home, StringComparison.Ordinal);
        Assert.Contains("name=\"topics\" value=\"go\"", home, StringComparison.Ordinal);

        var form = new FormUrlEncodedContent([new("email", "form@example.org"), new("source", "home"), new("topics", "rust"), new("topics", "unknown"), new("topics", "<script>")]);
        Assert.Equal(HttpStatusCode.Redirect, (await client.PostAsync("/subscribe", form, Ct)).StatusCode);
        var json = await client.PostAsJsonAsync("/subscribe", new { email = "json@example.org", topics = new[] { "GO", "rust", "vip", new string('x', 5000) } }, Ct);
        Assert.Equal(HttpStatusCode.Accepted, json.StatusCode);
        var plain = await client.PostAsJsonAsync("/subscribe", new { email = "plain@example.org" }, Ct);
        Assert.Equal(HttpStatusCode.Accepted, plain.StatusCode);

        Assert.Equal(["rust"], await TagsOfAsync(app, "form@example.org"));
        Assert.Equal(["go", "rust"], await TagsOfAsync(app, "json@example.org"));
        Assert.Empty(await TagsOfAsync(app, "plain@example.org"));
    }

    [Fact]
    public async Task TopicsGivenAsOneCommaSeparatedValueAreOfferedToo()
    {
        // As one environment variable gives them (Subscriptions__Topics=rust, go): a single value, which the
        // configuration binder dropped for the list without a word.
        using var app = new NewsletterApp(new() { ["Subscriptions:Topics"] = "Rust, go" });
        var home = await app.CreateBrowserClient().GetStringAsync("/", Ct);
        Assert.Contains("name=\"topics\" value=\"rust\"", home, StringComparison.Ordinal);
        Assert.Contains("name=\"topics\" value=\"go\"", home, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheIssuesApiTakesAndReturnsTheSegment()
    {
        using var app = new NewsletterApp();
        var (_, earlier) = await SeedAsync(app);
        var author = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(author);
        var draft = await AddIssueAsync(app, subject: "By API");
        await using var scope = app.Services.CreateAsyncScope();
        var dto = Newsletter.Web.Api.IssueDto.From(await scope.ServiceProvider.GetRequiredService<AppDbContext>().Issues.Include(i => i.Tags).Include(i => i.Notes).SingleAsync(i => i.Id == draft, Ct));
        Assert.Empty(dto.Segment.Topics!);
        var write = new Newsletter.Web.Api.SegmentDto(["go"], "any", null, "2026-03-01", null, earlier);
        var saved = await scope.ServiceProvider.GetRequiredService<IssueEditor>().SaveAsync(draft, new IssueDraft("By API", null, null, "Body", [], [], write.ToInput(), IssueChannel.Both), Ct);
        Assert.Equal(IssueEditOutcome.Saved, saved.Outcome);
        scope.ServiceProvider.GetRequiredService<AppDbContext>().ChangeTracker.Clear();
        var back = Newsletter.Web.Api.IssueDto.From(await scope.ServiceProvider.GetRequiredService<AppDbContext>().Issues.Include(i => i.Tags).Include(i => i.Notes).SingleAsync(i => i.Id == draft, Ct));
        Assert.Equal(["go"], back.Segment.Topics!);
        Assert.Equal("2026-03-01", back.Segment.JoinedBefore);
        Assert.Equal(earlier, back.Segment.MissedIssue);
    }

    private static async Task<List<string>> TagsOfAsync(NewsletterApp app, string email)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            await using var scope = app.Services.CreateAsyncScope();
            var s = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Subscribers.AsNoTracking().Include(x => x.Tags).FirstOrDefaultAsync(x => x.EmailKey == email, Ct);
            if (s is not null)
            {
                return [.. s.Tags.Select(t => t.Tag).Order(StringComparer.Ordinal)];
            }

            Assert.True(DateTime.UtcNow < deadline, $"{email} never signed up");
            await Task.Delay(200, Ct);
        }
    }
}

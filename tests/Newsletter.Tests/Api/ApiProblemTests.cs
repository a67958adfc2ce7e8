using System.Net;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using static Newsletter.Tests.Api.ApiClients;

namespace Newsletter.Tests.Api;

/// <summary>Every error on /api is application/problem+json with a status, a title and a detail that says what to change.</summary>
public class ApiProblemTests
{
    [Fact]
    public async Task BadInputGetsAProblemThatNamesTheFieldAndSavesNothing()
    {
        using var app = new NewsletterApp();
        var api = await ClientAsync(app);

        var cases = new (string Name, HttpContent Body, int Status, string Field)[]
        {
            ("malformed email", Json("""{"email":"ann@@example.org"}"""), 400, "email"),
            ("header injection in the email", Json("""{"email":"ann@example.org\r\nBcc: all@example.org"}"""), 400, "email"),
            ("CRLF in the name", Json("""{"email":"ann@example.org","name":"Ann\r\nBcc: x@example.org"}"""), 400, "name"),
            ("a line separator in the name", Json("""{"email":"ann@example.org","name":"Ann\u2028Bcc: x@example.org"}"""), 400, "name"),
            ("active without consent", Json("""{"email":"ann@example.org","doubleOptIn":false}"""), 400, "consent"),
            ("an empty tag", Json("""{"email":"ann@example.org","tags":["ok","--"]}"""), 400, "tags[1]"),
            ("a wrong type", Json("""{"email":"ann@example.org","doubleOptIn":"maybe"}"""), 400, "$.doubleOptIn"),
            ("not JSON at all", Json("""{"email":"""), 400, "JSON"),
            ("a form instead of JSON", new FormUrlEncodedContent(new Dictionary<string, string> { ["email"] = "ann@example.org" }), 415, "application/json"),
        };
        foreach (var (name, body, status, field) in cases)
        {
            var response = await api.PostAsync("/api/v1/subscribers", body, Ct);
            var problem = await AssertProblemAsync(response, status, name);
            Assert.True(problem.GetProperty("detail").GetString()!.Contains(field, StringComparison.Ordinal), $"{name}: {problem}");
            if (status == 400 && !field.StartsWith('$') && field != "JSON")
            {
                Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"{name}: {problem}");
            }
        }

        var (wrongSubject, issueProblem) = await PostJsonAsync(api, "/api/v1/issues", new { subject = "Two\r\nlines", markdown = "x" });
        Assert.Equal(HttpStatusCode.BadRequest, wrongSubject.StatusCode);
        Assert.True(issueProblem.GetProperty("errors").TryGetProperty("subject", out _), issueProblem.ToString());

        // No subject and no slug: the subject is named, not a slug nobody sent; a subject with nothing to make a slug of says so.
        var (_, empty) = await PostJsonAsync(api, "/api/v1/issues", new { markdown = "x" });
        Assert.Equal(["subject"], empty.GetProperty("errors").EnumerateObject().Select(e => e.Name));
        var (_, symbols) = await PostJsonAsync(api, "/api/v1/issues", new { subject = "!!!", markdown = "x" });
        Assert.Contains("no letters a-z or digits", symbols.GetProperty("errors").GetProperty("slug")[0].GetString(), StringComparison.Ordinal);

        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(0, await db.Subscribers.CountAsync(Ct));
        Assert.Equal(0, await db.Issues.CountAsync(Ct));
    }

    /// <summary>
    /// U+2028 and U+2029 (pasted from a word processor or a script) are line breaks to the mail library, which
    /// refuses them in a header: a subject holding one was saved, then its page, its preview and every send failed.
    /// They are refused where they are typed, like CR and LF.
    /// </summary>
    [Theory]
    [InlineData("\u2028")]
    [InlineData("\u2029")]
    public async Task ALineSeparatorInASubjectOrATitleIsRefusedLikeALineBreak(string separator)
    {
        using var app = new NewsletterApp();
        var api = await ClientAsync(app);
        var issue = await api.PostAsync("/api/v1/issues", Json($$"""{"subject":"Pasted{{separator}}Bcc: v@example.org","markdown":"x"}"""), Ct);
        Assert.True((await AssertProblemAsync(issue, 400, "subject")).GetProperty("errors").TryGetProperty("subject", out _));
        var note = await api.PostAsync("/api/v1/notes", Json($$"""{"title":"Pasted{{separator}}title","markdown":"x"}"""), Ct);
        Assert.True((await AssertProblemAsync(note, 400, "title")).GetProperty("errors").TryGetProperty("title", out _));
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(0, await db.Issues.CountAsync(Ct));
    }

    /// <summary>
    /// Shapes of Markdown that took the server seconds to minutes of CPU to render (the cost grows with the square
    /// of their length), or ended in a 500 from Markdig's nesting limit, are refused with a 400 on the field before
    /// anything renders, for notes and for issues; nothing is saved.
    /// </summary>
    [Theory]
    [InlineData("links", 10_000)]
    [InlineData("html", 16_000)]
    [InlineData("emphasis", 10_000)]
    [InlineData("quotes", 200)]
    [InlineData("table", 2_000)]
    public async Task MarkdownShapedToExhaustTheRendererIsRefusedOnItsField(string shape, int count)
    {
        var markdown = shape switch
        {
            "links" => string.Concat(Enumerable.Repeat("[a](", count)),
            "html" => string.Concat(Enumerable.Repeat("<div>", count)),
            "emphasis" => string.Concat(Enumerable.Repeat("*a ", count)),
            "table" => "|a|b|\n|-|-|\n" + string.Concat(Enumerable.Repeat("|" + string.Concat(Enumerable.Repeat("~~a ", 20)) + "|b|\n", count / 20)),
            _ => new string('>', count),
        };
        using var app = new NewsletterApp();
        var api = await ClientAsync(app);
        var note = await AssertProblemAsync(await api.PostAsync("/api/v1/notes", Json(System.Text.Json.JsonSerializer.Serialize(new { title = "Heavy", markdown })), Ct), 400, "markdown");
        Assert.True(note.GetProperty("errors").TryGetProperty("markdown", out _), note.ToString());
        var issue = await AssertProblemAsync(await api.PostAsync("/api/v1/issues", Json(System.Text.Json.JsonSerializer.Serialize(new { subject = "Heavy", markdown })), Ct), 400, "markdown");
        Assert.True(issue.GetProperty("errors").TryGetProperty("markdown", out _), issue.ToString());
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(0, await db.Issues.CountAsync(Ct));
        Assert.False(await db.Notes.AnyAsync(n => n.Title == "Heavy", Ct));
    }

    /// <summary>Long real writing is not caught by those limits: a link roundup, a big table, code with stars and tags.</summary>
    [Fact]
    public async Task LongOrdinaryWritingPassesTheRenderersLimits()
    {
        var links = string.Concat(Enumerable.Range(0, 1_500).Select(i => $"- [Link {i}](https://example.org/{i}) and <https://example.org/a/{i}>, *read*\n"));
        var table = "| a | b |\n|---|---|\n" + string.Concat(Enumerable.Range(0, 500).Select(i => $"| *{i}* | <b>{i}</b><br> |\n"));
        var code = "```c\n" + string.Concat(Enumerable.Repeat("int **p = *q; /* <div> */\n", 3_000)) + "```\n";
        var prose = string.Concat(Enumerable.Repeat("If x<y then [0, 1) holds, and snake_case_names stay as_they_are.\n\n> quoted <em>once</em>\n\n", 400));
        foreach (var markdown in new[] { links, table, code, prose })
        {
            Assert.Null(Newsletter.Web.Content.MarkdownShape.TooComplex(markdown));
        }

        using var app = new NewsletterApp();
        var api = await ClientAsync(app);
        var saved = await api.PostAsync("/api/v1/notes", Json(System.Text.Json.JsonSerializer.Serialize(new { title = "Roundup", markdown = links + "\n" + table + "\n" + code + "\n" + prose })), Ct);
        Assert.Equal(HttpStatusCode.Created, saved.StatusCode);
    }

    /// <summary>
    /// A note titled only in another script makes no slug from its title: the refusal says to type one, instead of
    /// blaming a slug nobody typed. With one typed, it is saved.
    /// </summary>
    [Fact]
    public async Task ANoteTitledInAnotherScriptIsAskedForASlug()
    {
        using var app = new NewsletterApp();
        var api = await ClientAsync(app);
        var refused = await AssertProblemAsync(await api.PostAsync("/api/v1/notes", Json("""{"title":"日本語のノート","markdown":"x"}"""), Ct), 400, "slug");
        Assert.Contains("The title has no letters a-z or digits to make a web address from: type a slug.", refused.ToString(), StringComparison.Ordinal);
        var saved = await api.PostAsync("/api/v1/notes", Json("""{"title":"日本語のノート","slug":"nihongo-no-noto","markdown":"x"}"""), Ct);
        Assert.Equal(HttpStatusCode.Created, saved.StatusCode);
    }

    /// <summary>
    /// A summary is cut at a space; text with none near the limit (Japanese, a link first) was a 500 on every save,
    /// and as a file in notes/ it stopped the app from starting. It is cut at the limit instead.
    /// </summary>
    [Fact]
    public async Task TextWithNoSpaceToCutAtIsSavedWithASummaryCutAtTheLimit()
    {
        using var app = new NewsletterApp();
        var api = await ClientAsync(app);
        var japanese = string.Concat(Enumerable.Repeat("これは日本語の文章です。", 20));
        var (note, body) = await PostJsonAsync(api, "/api/v1/notes", new { title = "日本語のノート", slug = "jp-note", markdown = japanese });
        Assert.Equal(HttpStatusCode.Created, note.StatusCode);
        Assert.Equal(japanese[..200] + "…", body.GetProperty("summary").GetString());
        var (issue, _) = await PostJsonAsync(api, "/api/v1/issues", new { subject = "Link first", markdown = "<https://example.com/" + new string('a', 220) + "> and then words" });
        Assert.Equal(HttpStatusCode.Created, issue.StatusCode);
    }

    /// <summary>09:00 UTC thirty days from now, written three ways (a fixed date would fall into the past one day).</summary>
    [Theory]
    [InlineData("10:00:00+01:00")]
    [InlineData("09:00:00Z")]
    [InlineData("04:00:00.000-05:00")]
    public async Task AScheduleTimeIsReadWithItsOwnOffset(string time)
    {
        var day = DateTime.UtcNow.Date.AddDays(30);
        var at = $"{day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture)}T{time}";
        using var app = new NewsletterApp();
        var api = await ClientAsync(app);
        var (_, issue) = await PostJsonAsync(api, "/api/v1/issues", new { subject = "Offsets", markdown = "x" });
        var issueId = issue.GetProperty("id").GetInt32();

        var response = await api.PostAsync($"/api/v1/issues/{issueId}/schedule", Json($$"""{"at":"{{at}}"}"""), Ct);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var scheduled = await db.Issues.AsNoTracking().SingleAsync(i => i.Id == issueId, Ct);
        Assert.Equal(day.AddHours(9), scheduled.ScheduledAt);
    }

    [Fact]
    public async Task ABodyThatCannotBeReadSaysWhetherTheJsonIsBrokenOrWhatTheFieldTakes()
    {
        using var app = new NewsletterApp();
        var api = await ClientAsync(app);
        var (_, issue) = await PostJsonAsync(api, "/api/v1/issues", new { subject = "Leases", markdown = "x" });
        var issueId = issue.GetProperty("id").GetInt32();

        var cases = new (string Url, HttpContent Body, string[] Says)[]
        {
            ("/api/v1/subscribers", Json("""{"email":"ann@example.org","doubleOptIn":"maybe"}"""), ["$.doubleOptIn", "true or false", "line 1, byte"]),
            ("/api/v1/subscribers", Json("""{"email":1}"""), ["$.email", "text"]),
            ("/api/v1/subscribers", Json("""{"email":"ann@example.org","tags":"beta"}"""), ["$.tags", "a list"]),
            // Cut off inside a string, or with more after the object: broken JSON, not a wrong value.
            ("/api/v1/subscribers", Json("""{"email":"ann@exa"""), ["not valid JSON", "line 1, byte 18"]),
            ("/api/v1/subscribers", Json("""{"email":"ann@example.org"} and more"""), ["not valid JSON"]),
            ("/api/v1/subscribers", Json(""), ["has no body"]),
            ("/api/v1/subscribers", Json("null"), ["JSON null"]),
            ("/api/v1/subscribers", Json("[]"), ["endpoint takes", "an object"]),
            ("/api/v1/issues", Json("""{"subject":"A","markdown":"x","channel":"pigeon"}"""), ["$.channel", "\"Both\", \"Web\", \"Email\""]),
            ("/api/v1/issues", Json("""{"subject":"B","markdown":"x","segment":{"gotIssue":"the last one"}}"""), ["$.segment.gotIssue", "a whole number"]),
            ("/api/v1/issues", Json("""{"subject":"C","markdown":"x","noteIds":[1.5]}"""), ["$.noteIds[0]", "a whole number"]),
            ($"/api/v1/issues/{issueId}/schedule", Json("""{"at":"tomorrow morning"}"""), ["$.at", "a date and time"]),
            // No offset: the server's own time zone would decide the hour, so it is refused.
            ($"/api/v1/issues/{issueId}/schedule", Json("""{"at":"2027-01-01T10:00:00"}"""), ["$.at", "a date and time"]),
            // ISO 8601's basic offset is not read, rather than read by one check and refused by another.
            ($"/api/v1/issues/{issueId}/schedule", Json("""{"at":"2027-01-01T10:00:00+0100"}"""), ["$.at", "a date and time"]),
            ($"/api/v1/issues/{issueId}/schedule", Json("""{"at":20270101}"""), ["$.at", "a date and time"]),
        };
        foreach (var (url, body, says) in cases)
        {
            var sent = await body.ReadAsStringAsync(Ct);
            var problem = await AssertProblemAsync(await api.PostAsync(url, body, Ct), 400, sent);
            var detail = problem.GetProperty("detail").GetString()!;
            foreach (var part in says)
            {
                Assert.True(detail.Contains(part, StringComparison.Ordinal), $"{sent}: expected '{part}' in: {detail}");
            }

            if (says[0].StartsWith("$.", StringComparison.Ordinal))
            {
                // Named in errors too, as a refused field is.
                Assert.True(problem.GetProperty("errors").TryGetProperty(says[0][2..], out _), $"{sent}: {problem}");
            }

            // Nothing of the framework's wording for programmers: handler parameters, types, "Did you mean...".
            Assert.DoesNotContain("parameter", detail, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("Newsletter.", detail, StringComparison.Ordinal);
            Assert.DoesNotContain("SubscriberCreate", detail, StringComparison.Ordinal);
        }

        // A PATCH with a field it does not take is refused by name, not answered 200 with nothing changed.
        var (_, reader) = await PostJsonAsync(api, "/api/v1/subscribers", new { email = "kept@example.org", name = "Kept", doubleOptIn = false, consent = "test" });
        foreach (var field in new[] { "email", "status" })
        {
            var patch = new HttpRequestMessage(HttpMethod.Patch, $"/api/v1/subscribers/{reader.GetProperty("id").GetInt64()}") { Content = Json($$"""{"{{field}}":"x@example.org","name":"Changed"}""") };
            var refused = await AssertProblemAsync(await api.SendAsync(patch, Ct), 400, field);
            Assert.Contains($"'{field}' is not a field this endpoint takes; it takes name, tags", refused.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.True(refused.GetProperty("errors").TryGetProperty(field, out _), refused.ToString());
        }

        // A misspelt field is refused as well, not taken as left out: "double_opt_in" would have sent a confirmation
        // the script meant to skip. In a nested object the message lists that object's fields.
        var misspelt = new (string Url, string Body, string Field, string Takes)[]
        {
            ("/api/v1/subscribers", """{"email":"typo@example.org","double_opt_in":false,"consent":"form"}""", "double_opt_in", "email, name, tags, doubleOptIn, consent"),
            ("/api/v1/issues", """{"subject":"S","markdown":"x","segment":{"topic":["a"]}}""", "segment.topic", "topics, match, joinedFrom, joinedBefore, gotIssue, missedIssue"),
            ("/api/v1/notes", """{"title":"T","markdown":"x","published":true}""", "published", "title, slug, date, tags, summary, markdown, publish"),
            ($"/api/v1/issues/{issueId}/schedule", """{"when":"2027-01-01T10:00:00Z"}""", "when", "at"),
        };
        foreach (var (url, body, field, takes) in misspelt)
        {
            var refused = await AssertProblemAsync(await api.PostAsync(url, Json(body), Ct), 400, body);
            Assert.Equal($"'{field}' is not a field this endpoint takes; it takes {takes}. Nothing was saved.", refused.GetProperty("detail").GetString());
            Assert.True(refused.GetProperty("errors").TryGetProperty(field, out _), refused.ToString());
        }

        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal("Kept", (await db.Subscribers.SingleAsync(Ct)).Name);
        Assert.Equal(1, await db.Issues.CountAsync(Ct));
        Assert.Null((await db.Issues.SingleAsync(Ct)).ScheduledAt);
    }

    [Fact]
    public async Task UnknownIdsRoutesAndMethodsAreProblemsToo()
    {
        using var app = new NewsletterApp();
        var api = await ClientAsync(app);
        foreach (var (method, url, status, says) in new[]
        {
            ("GET", "/api/v1/subscribers/424242", 404, "no subscriber 424242"),
            ("POST", "/api/v1/subscribers/424242/unsubscribe", 404, "no subscriber 424242"),
            ("GET", "/api/v1/issues/777/progress", 404, "no issue 777"),
            ("POST", "/api/v1/issues/777/send", 404, "no issue 777"),
            ("GET", "/api/v1/notes/99", 404, "no note 99"),
            ("GET", "/api/v1/imports/5", 404, "no import 5"),
            ("GET", "/api/v1/nothing-here", 404, "nothing at this address"),
            ("DELETE", "/api/v1/subscribers", 405, "does not take DELETE"),
            ("GET", "/api/v1/subscribers?status=gone", 400, "status"),
            ("GET", "/api/v1/subscribers?cursor=abc", 400, "cursor"),
            ("GET", "/api/v1/subscribers?limit=100000", 400, "limit"),
            ("GET", "/api/v1/subscribers?limit=ten", 400, "limit: 'ten' is not a whole number."),
            ("GET", "/api/v1/events?subscriber=ann%40example.org", 400, "subscriber: 'ann@example.org' is not a whole number."),
            ("GET", "/api/v1/issues/1/ledger?format=xml", 400, "format"),
            ("GET", "/api/v1/subscribers?limt=5", 400, "'limt' is not a query parameter this endpoint takes; it takes status, tag, q, cursor, limit."),
            ("GET", "/api/v1/imports?limit=abc", 400, "limit: 'abc' is not a whole number."),
            ("GET", "/api/v1/imports/5?limit=1", 400, "'limit' is not a query parameter this endpoint takes; it takes none."),
            ("GET", "/api/v1/imports/5?id=6", 400, "'id' is not a query parameter this endpoint takes; it takes none."),
        })
        {
            var response = await api.SendAsync(new HttpRequestMessage(new HttpMethod(method), url), Ct);
            var problem = await AssertProblemAsync(response, status, url);
            Assert.True(problem.GetProperty("detail").GetString()!.Contains(says, StringComparison.Ordinal), $"{url}: {problem}");
        }
    }

    [Fact]
    public async Task AMistypedQueryParameterIsRefusedByNameAndNothingIsImportedOrMailed()
    {
        using var app = new NewsletterApp();
        var api = await ClientAsync(app);
        // "activ" for "active": ignored, the file went in as pending and every row was sent a confirmation.
        var csv = new StringContent("email\nq2@example.org\n", Encoding.UTF8, "text/csv");
        var problem = await AssertProblemAsync(await api.PostAsync("/api/v1/imports?activ=true&consent=met%20at%20a%20talk", csv, Ct), 400, "activ");
        Assert.Equal("'activ' is not a query parameter this endpoint takes; it takes tags, active, consent, fileName.", problem.GetProperty("errors").GetProperty("activ")[0].GetString());

        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(0, await db.SubscriberImports.CountAsync(Ct));
        Assert.Equal(0, await db.Subscribers.CountAsync(Ct));
        Assert.Empty(Directory.Exists(app.PickupFolder) ? Directory.GetFiles(app.PickupFolder, "*.eml") : []);
    }

    [Fact]
    public async Task AnOversizedBodyIsA413ProblemAndNothingIsSaved()
    {
        using var app = new NewsletterApp();
        var api = await ClientAsync(app);
        var huge = "{\"email\":\"ann@example.org\",\"name\":\"" + new string('a', 2 * 1024 * 1024) + "\"}";
        var sized = await api.PostAsync("/api/v1/subscribers", Json(huge), Ct);
        Assert.Contains("1,048,576", (await AssertProblemAsync(sized, 413, "with a length")).GetProperty("detail").GetString(), StringComparison.Ordinal);

        // Without a length up front (chunked), the limit is found while reading: the same answer.
        var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(huge)));
        chunked.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/subscribers") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        await AssertProblemAsync(await api.SendAsync(request, Ct), 413, "chunked");

        await using var scope = app.Services.CreateAsyncScope();
        Assert.Equal(0, await scope.ServiceProvider.GetRequiredService<AppDbContext>().Subscribers.CountAsync(Ct));
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    internal static async Task<System.Text.Json.JsonElement> AssertProblemAsync(HttpResponseMessage response, int status, string name)
    {
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True((int)response.StatusCode == status, $"{name}: expected {status}, got {(int)response.StatusCode} {text}");
        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json", $"{name}: {response.Content.Headers.ContentType} {text}");
        var problem = System.Text.Json.JsonDocument.Parse(text).RootElement.Clone();
        Assert.Equal(status, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("title").GetString()), name);
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("detail").GetString()), name);
        Assert.StartsWith("https://", problem.GetProperty("type").GetString(), StringComparison.Ordinal);
        return problem;
    }
}

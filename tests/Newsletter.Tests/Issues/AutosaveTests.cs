using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Newsletter.Testing;
using Newsletter.Web.Admin;

namespace Newsletter.Tests.Issues;

/// <summary>The editors' autosave handlers: drafts only, never over a newer save, refused fields named, nothing saved when signed out.</summary>
public partial class AutosaveTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AnIssueDraftAutosavesOnlyOverTheVersionThePageShowedAndOnlyWhileItIsADraft()
    {
        using var app = new NewsletterApp();
        var (client, editUrl, version) = await NewDraftAsync(app);

        var first = await AutosaveAsync(client, editUrl, version, new() { ["subject"] = "Typed, not saved by hand", ["markdown"] = "Body <script>alert(1)</script>", ["channel"] = "both" });
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var next = JsonDocument.Parse(await first.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("version").GetString();
        Assert.NotEqual(version, next);
        Assert.Equal(next, await VersionAsync(client, editUrl));
        var page = await client.GetStringAsync(editUrl, Ct);
        Assert.Contains("value=\"Typed, not saved by hand\"", WebUtility.HtmlDecode(page), StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;alert(1)", page, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>alert(1)", page, StringComparison.Ordinal);

        // From the version the page showed before: refused, and the newer save stays.
        var stale = await AutosaveAsync(client, editUrl, version, new() { ["subject"] = "From an old tab", ["channel"] = "both" });
        Assert.Equal(HttpStatusCode.Conflict, stale.StatusCode);
        Assert.Contains("saved elsewhere", await stale.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Contains("Typed, not saved by hand", await client.GetStringAsync(editUrl, Ct), StringComparison.Ordinal);
        // Saved by hand from that old version: refused the same way, not a silent overwrite of the newer save.
        var staleByHand = await Forms.PostAsync(client, editUrl, new Dictionary<string, string> { ["version"] = version, ["subject"] = "From an old tab, by hand", ["channel"] = "both" }, editUrl + "?handler=Save");
        Assert.Equal(HttpStatusCode.OK, staleByHand.StatusCode);
        Assert.Contains("saved elsewhere", await staleByHand.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Contains("Typed, not saved by hand", await client.GetStringAsync(editUrl, Ct), StringComparison.Ordinal);

        // A subject with a line break (header injection) is named, not saved.
        var hostile = await AutosaveAsync(client, editUrl, next!, new() { ["subject"] = "Hi\r\nBcc: everyone@example.org", ["channel"] = "both" });
        Assert.Equal(HttpStatusCode.BadRequest, hostile.StatusCode);
        Assert.True(JsonDocument.Parse(await hostile.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("errors").TryGetProperty("subject", out _));

        // Scheduled: no longer saved by itself (it would change what goes out unasked).
        var scheduled = await Forms.PostAsync(client, editUrl, new Dictionary<string, string> { ["at"] = DateTime.UtcNow.AddDays(2).ToString("yyyy-MM-ddTHH:mm", System.Globalization.CultureInfo.InvariantCulture) }, editUrl + "?handler=Schedule");
        Assert.Equal(HttpStatusCode.Redirect, scheduled.StatusCode);
        var late = await AutosaveAsync(client, editUrl, await VersionAsync(client, editUrl), new() { ["subject"] = "Changed after scheduling", ["channel"] = "both" });
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
        Assert.DoesNotContain("Changed after scheduling", await client.GetStringAsync(editUrl, Ct), StringComparison.Ordinal);

        // Signed out: the post goes to the login page and nothing is saved.
        var stranger = app.CreateBrowserClient();
        var token = Forms.Token(await client.GetStringAsync(editUrl, Ct))!;
        var anonymous = await stranger.PostAsync(editUrl + "?handler=Autosave", new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = token, ["subject"] = "Anonymous" }), Ct);
        Assert.Equal(HttpStatusCode.Redirect, anonymous.StatusCode);
        Assert.Contains("/admin/login", anonymous.Headers.Location!.OriginalString, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnAutosaveGivesThePageTheSavedVersionsQuestionAndWarningsSoSendNowGoesAtTheFirstClick()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var created = await Forms.PostAsync(client, "/admin/issues", new Dictionary<string, string>(), "/admin/issues?handler=New");
        var editUrl = created.Headers.Location!.OriginalString;

        var fields = new Dictionary<string, string> { ["subject"] = "Autosaved <then> sent", ["markdown"] = "See [my laptop](http://localhost:8080/x).", ["channel"] = "both" };
        var saved = await AutosaveAsync(client, editUrl, await VersionAsync(client, editUrl), new(fields));
        Assert.Equal(HttpStatusCode.OK, saved.StatusCode);
        var json = JsonDocument.Parse(await saved.Content.ReadAsStringAsync(Ct)).RootElement;
        // The same digest the page would show for this version, the new subject in the question, and preflight's
        // warning about a link no reader can open: what the confirm step shows is what Send now sends.
        Assert.Equal(SeenRegex().Match(await client.GetStringAsync(editUrl, Ct)).Groups[1].Value, json.GetProperty("seen").GetString());
        Assert.Contains("“Autosaved <then> sent”", json.GetProperty("question").GetString(), StringComparison.Ordinal);
        Assert.Contains(json.GetProperty("warnings").EnumerateArray(), w => w.GetString()!.Contains("localhost", StringComparison.Ordinal));

        fields["seen"] = json.GetProperty("seen").GetString()!;
        var send = await Forms.PostAsync(client, editUrl, fields, editUrl + "?handler=SendNow");
        Assert.Equal(HttpStatusCode.Redirect, send.StatusCode);
        Assert.EndsWith("/progress", send.Headers.Location!.OriginalString, StringComparison.Ordinal);
    }

    [GeneratedRegex("name=\"seen\" value=\"([^\"]*)\"")]
    private static partial Regex SeenRegex();

    [Fact]
    public async Task ANewNoteIsCreatedAsADraftByItsFirstAutosaveAndAPublishedNoteIsNotAutosaved()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);

        var created = await AutosaveAsync(client, "/admin/notes/new", "", new() { ["Input.Title"] = "A note typed in the editor", ["Input.Markdown"] = "Words." });
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        var json = JsonDocument.Parse(await created.Content.ReadAsStringAsync(Ct)).RootElement;
        var url = json.GetProperty("url").GetString()!;
        Assert.Matches(@"^/admin/notes/\d+$", url);
        var page = await client.GetStringAsync(url, Ct);
        Assert.Contains(">Draft<", page, StringComparison.Ordinal);
        Assert.Equal(json.GetProperty("version").GetString(), await VersionAsync(client, url));
        Assert.DoesNotContain("A note typed in the editor", await app.CreateClient().GetStringAsync("/notes", Ct), StringComparison.Ordinal);

        // Without a title it is named and nothing is created.
        var untitled = await AutosaveAsync(client, "/admin/notes/new", "", new() { ["Input.Title"] = "", ["Input.Markdown"] = "Only a body." });
        Assert.Equal(HttpStatusCode.BadRequest, untitled.StatusCode);
        Assert.Contains("Give the note a title", await untitled.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        // Saved by hand over a version older than the page's: refused, and the text posted stays on the page.
        var staleByHand = await Forms.PostAsync(client, url, new Dictionary<string, string> { ["version"] = "1", ["Input.Title"] = "From an old tab", ["Input.Markdown"] = "Old words." }, url);
        Assert.Equal(HttpStatusCode.OK, staleByHand.StatusCode);
        var refusedPage = await staleByHand.Content.ReadAsStringAsync(Ct);
        Assert.Contains("saved elsewhere", refusedPage, StringComparison.Ordinal);
        Assert.Contains("Old words.", refusedPage, StringComparison.Ordinal);
        // The heading names the note as it is stored; the posted title is only in the form.
        Assert.Contains("<h1>A note typed in the editor</h1>", refusedPage, StringComparison.Ordinal);
        Assert.DoesNotContain("<h1>From an old tab</h1>", refusedPage, StringComparison.Ordinal);
        Assert.DoesNotContain("From an old tab", await client.GetStringAsync(url, Ct), StringComparison.Ordinal);

        var published = await Forms.PostAsync(client, url, new Dictionary<string, string> { ["Input.Title"] = "A note typed in the editor", ["Input.Markdown"] = "Words.", ["intent"] = "publish" }, url);
        Assert.Equal(HttpStatusCode.Redirect, published.StatusCode);
        var refused = await AutosaveAsync(client, url, await VersionAsync(client, url), new() { ["Input.Title"] = "Changed live", ["Input.Markdown"] = "Words." });
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.DoesNotContain("Changed live", await app.CreateClient().GetStringAsync("/notes", Ct), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/admin/issues/5?handler=Save", "/admin/issues/5")]
    [InlineData("/admin/issues/5?a=1&handler=SendNow&b=x%20y", "/admin/issues/5?a=1&b=x%20y")]
    [InlineData("/admin/notes/new", "/admin/notes/new")]
    public void SigningInAfterAFormWasPostedReturnsToThePageNotToItsHandler(string returnUrl, string expected) =>
        Assert.Equal(expected, LoginModel.PageToReturnTo(returnUrl));

    /// <summary>
    /// Two tabs autosaving the same version at the same moment: one is saved and the other hears it was saved
    /// elsewhere, and what is stored is the one that was told "Saved". Both were told "Saved" and one's text was
    /// lost, because the version was looked at and written in two steps. The database's write lock is held while
    /// both requests arrive, so they overlap however fast the machine is.
    /// </summary>
    [Fact]
    public async Task TwoAutosavesOfOneVersionAtOnceSaveOneAndTellTheOther()
    {
        using var app = new NewsletterApp();
        var (client, editUrl, version) = await NewDraftAsync(app);

        Task<HttpResponseMessage>[] saves;
        await using (await WriteLock.TakeAsync(app, "Issues"))
        {
            saves = [.. new[] { "Tab A", "Tab B" }.Select(tab => AutosaveAsync(client, editUrl, version, new() { ["subject"] = tab, ["markdown"] = tab + " text", ["channel"] = "both" }))];
            await Task.Delay(TimeSpan.FromSeconds(2), Ct);
        }

        var answers = await Task.WhenAll(saves);
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.Conflict], answers.Select(a => a.StatusCode).Order());
        Assert.Contains("saved elsewhere", await answers.Single(a => a.StatusCode == HttpStatusCode.Conflict).Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        var winner = answers[0].StatusCode == HttpStatusCode.OK ? "Tab A" : "Tab B";
        var page = WebUtility.HtmlDecode(await client.GetStringAsync(editUrl, Ct));
        Assert.Contains($"value=\"{winner}\"", page, StringComparison.Ordinal);
        // The winner's answer names the version now stored, so its next save goes through.
        var next = JsonDocument.Parse(await answers.Single(a => a.StatusCode == HttpStatusCode.OK).Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("version").GetString();
        Assert.Equal(next, await VersionAsync(client, editUrl));
    }

    /// <summary>The same for a note: two autosaves of one version at once save one and tell the other.</summary>
    [Fact]
    public async Task TwoNoteAutosavesOfOneVersionAtOnceSaveOneAndTellTheOther()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var created = await AutosaveAsync(client, "/admin/notes/new", "", new() { ["Input.Title"] = "Started", ["Input.Markdown"] = "Words." });
        var url = JsonDocument.Parse(await created.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("url").GetString()!;
        var version = await VersionAsync(client, url);

        Task<HttpResponseMessage>[] saves;
        await using (await WriteLock.TakeAsync(app, "Notes"))
        {
            saves = [.. new[] { "Tab A", "Tab B" }.Select(tab => AutosaveAsync(client, url, version, new() { ["Input.Title"] = tab, ["Input.Markdown"] = tab + " words." }))];
            await Task.Delay(TimeSpan.FromSeconds(2), Ct);
        }

        var answers = await Task.WhenAll(saves);
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.Conflict], answers.Select(a => a.StatusCode).Order());
        var winner = answers[0].StatusCode == HttpStatusCode.OK ? "Tab A" : "Tab B";
        Assert.Contains($"value=\"{winner}\"", WebUtility.HtmlDecode(await client.GetStringAsync(url, Ct)), StringComparison.Ordinal);
    }

    /// <summary>The owner signed in, a new issue draft, its editor's address and the version its page shows.</summary>
    private static async Task<(HttpClient Client, string EditUrl, string Version)> NewDraftAsync(NewsletterApp app)
    {
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var created = await Forms.PostAsync(client, "/admin/issues", new Dictionary<string, string>(), "/admin/issues?handler=New");
        var editUrl = created.Headers.Location!.OriginalString;
        return (client, editUrl, await VersionAsync(client, editUrl));
    }

    private static async Task<HttpResponseMessage> AutosaveAsync(HttpClient client, string pageUrl, string version, Dictionary<string, string> fields)
    {
        fields["version"] = version;
        var response = await Forms.PostAsync(client, pageUrl, fields, pageUrl + "?handler=Autosave");
        return response;
    }

    private static async Task<string> VersionAsync(HttpClient client, string url) =>
        VersionRegex().Match(await client.GetStringAsync(url, Ct)).Groups[1].Value;

    [GeneratedRegex("name=\"version\" value=\"([0-9]*)\"")]
    private static partial Regex VersionRegex();
}

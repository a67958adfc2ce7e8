using System.Net;
using Newsletter.Testing;

namespace Newsletter.Tests.Issues;

public class IssueEditTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SavingAnIssueWithANoteThatDoesNotExistIsAValidationError()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var created = await Forms.PostAsync(client, "/admin/issues", new Dictionary<string, string>(), "/admin/issues?handler=New");
        var editUrl = created.Headers.Location!.OriginalString;

        var saved = await Forms.PostAsync(client, editUrl, new Dictionary<string, string>
        {
            ["subject"] = "Issue one",
            ["markdown"] = "Body",
            ["notes"] = "987654",
            ["channel"] = "both",
        }, editUrl + "?handler=Save");

        Assert.Equal(HttpStatusCode.OK, saved.StatusCode);
        Assert.Contains("A chosen note no longer exists", WebUtility.HtmlDecode(await saved.Content.ReadAsStringAsync(Ct)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnEmptyDraftCanBePreviewed()
    {
        using var app = new NewsletterApp();
        var client = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(client);
        var created = await Forms.PostAsync(client, "/admin/issues", new Dictionary<string, string>(), "/admin/issues?handler=New");
        var id = created.Headers.Location!.OriginalString.TrimEnd('/').Split('/')[^1];

        var page = await client.GetAsync($"/admin/issues/{id}/preview", Ct);
        var email = await client.GetAsync($"/admin/preview/issues/{id}/email.html", Ct);

        Assert.True(page.StatusCode == HttpStatusCode.OK, $"page {(int)page.StatusCode}{Environment.NewLine}{app.ServerLog}");
        Assert.True(email.StatusCode == HttpStatusCode.OK, $"email {(int)email.StatusCode}{Environment.NewLine}{app.ServerLog}");
        Assert.Contains("Nothing to preview yet", await page.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }
}

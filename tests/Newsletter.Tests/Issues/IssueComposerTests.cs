using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Issues;

namespace Newsletter.Tests.Issues;

public class IssueComposerTests
{
    [Fact]
    public async Task SiteRelativeLinksAndImagesBecomeAbsoluteSoTheyWorkFromAnInbox()
    {
        using var app = new NewsletterApp();
        await using var scope = app.Services.CreateAsyncScope();
        var issue = new Issue
        {
            Subject = "Links",
            Markdown = "See [the note](/notes/sqlite-in-production), ![a chart](/media/chart.png), [elsewhere](https://example.org/x), [a footnote](#fn1) and [protocol-relative](//cdn.example/x).",
        };

        await scope.ServiceProvider.GetRequiredService<IssueComposer>().ComposeAsync(issue, TestContext.Current.CancellationToken);

        Assert.Contains("href=\"http://localhost/notes/sqlite-in-production\"", issue.Html, StringComparison.Ordinal);
        Assert.Contains("src=\"http://localhost/media/chart.png\"", issue.Html, StringComparison.Ordinal);
        Assert.Contains("href=\"https://example.org/x\"", issue.Html, StringComparison.Ordinal);
        Assert.Contains("href=\"#fn1\"", issue.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("localhost//cdn", issue.Html, StringComparison.Ordinal);
        Assert.Contains("alt=\"a chart\"", issue.Html, StringComparison.Ordinal);
    }
}

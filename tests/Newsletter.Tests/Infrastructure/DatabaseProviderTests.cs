using Newsletter.Testing;

namespace Newsletter.Tests.Infrastructure;

public class DatabaseProviderTests
{
    /// <summary>A provider the app cannot use stops the start with a sentence, not a SQLite file in its place.</summary>
    [Theory]
    [InlineData("Postgres")]
    [InlineData("SqlServer")]
    public void AnUnsupportedDatabaseProviderStopsTheStartAndSaysWhy(string provider)
    {
        using var app = new NewsletterApp(new() { ["Database:Provider"] = provider });
        var error = Assert.Throws<InvalidOperationException>(() => app.CreateClient());
        Assert.Contains($"Database:Provider '{provider}' is not supported", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(app.DataFolder, "newsletter.db")));
    }

    [Fact]
    public async Task TheSqliteProviderNamedInAnyCaseStarts()
    {
        using var app = new NewsletterApp(new() { ["Database:Provider"] = "sqlite" });
        Assert.Equal(System.Net.HttpStatusCode.OK, (await app.CreateClient().GetAsync("/", TestContext.Current.CancellationToken)).StatusCode);
    }
}

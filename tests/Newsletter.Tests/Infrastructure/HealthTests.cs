using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;

namespace Newsletter.Tests.Infrastructure;

public class HealthTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task HealthzSaysHealthyWhileTheDatabaseAnswersAndUnhealthyWhenItDoesNot()
    {
        using var app = new NewsletterApp();
        var client = app.CreateClient();
        var healthy = await client.GetAsync("/healthz", Ct);
        Assert.Equal(HttpStatusCode.OK, healthy.StatusCode);
        Assert.Equal("Healthy", await healthy.Content.ReadAsStringAsync(Ct));

        // A schema the node can no longer read: the check fails and says nothing about why to the caller.
        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<AppDbContext>().Database.ExecuteSqlRawAsync("ALTER TABLE \"ContentVersions\" RENAME TO \"ContentVersionsGone\"", Ct);
        }

        var unhealthy = await client.GetAsync("/healthz", Ct);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, unhealthy.StatusCode);
        Assert.Equal("Unhealthy", await unhealthy.Content.ReadAsStringAsync(Ct));
    }
}

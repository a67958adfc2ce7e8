using System.Net;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Audit;
using Newsletter.Web.Data;
using Newsletter.Web.Subscribers;
using static Newsletter.Tests.Api.ApiClients;

namespace Newsletter.Tests.Subscribers;

/// <summary>
/// A suppression is an author's to lift: a hard bounce from a mail server's passing fault, a complaint made by
/// mistake, an erased person who asked to come back. Before, nothing could remove one, so such an address was
/// dropped silently by the form and refused by the API for ever.
/// </summary>
public class SuppressionLiftTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AnAuthorLiftsABouncedReadersSuppressionAndTheReaderCanSubscribeAgain()
    {
        using var app = new NewsletterApp();
        var ids = await Sending.SendingFixture.AddReadersAsync(app, 1, prefix: "bounced");
        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<ReaderLifecycle>().SuppressAsync(ids[0], ReaderLoss.HardBounce, "test", "550 5.1.1 user unknown", Ct);
        }

        var author = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(author);
        var page = $"/admin/subscribers/{ids[0]}";
        Assert.Contains("Lift the suppression", await author.GetStringAsync(page, Ct), StringComparison.Ordinal);
        var lifted = await Forms.PostAsync(author, page, new Dictionary<string, string>(), page + "?handler=Lift");
        Assert.Equal(HttpStatusCode.Redirect, lifted.StatusCode);
        Assert.Contains("Suppression lifted", WebUtility.HtmlDecode(await author.GetStringAsync(lifted.Headers.Location!.OriginalString, Ct)), StringComparison.Ordinal);

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var reader = await db.Subscribers.AsNoTracking().SingleAsync(s => s.Id == ids[0], Ct);
            Assert.Equal(SubscriberStatus.Unsubscribed, reader.Status);
            Assert.False(await db.Suppressions.AnyAsync(Ct));
            Assert.True(await db.AuditEntries.AnyAsync(e => e.Action == AuditActions.SuppressionLift && e.ObjectId == ids[0].ToString(), Ct));
            Assert.Contains(await db.SubscriberEvents.Where(e => e.SubscriberId == ids[0]).Select(e => e.Detail).ToListAsync(Ct), d => d != null && d.Contains("suppression lifted", StringComparison.Ordinal));
        }

        // A second click finds nothing to lift and says so; the page offers no button any more.
        var again = await Forms.PostAsync(author, page, new Dictionary<string, string>(), page + "?handler=Lift");
        Assert.Contains("not suppressed", WebUtility.HtmlDecode(await author.GetStringAsync(again.Headers.Location!.OriginalString, Ct)), StringComparison.Ordinal);
        Assert.DoesNotContain("Lift the suppression", await author.GetStringAsync(page, Ct), StringComparison.Ordinal);

        // The reader subscribes again from the form and gets a confirmation.
        var email = (await SubscribeTests.FindAsync(app, "bounced0000@example.org"))!.Email;
        await SubscribeTests.SubscribeAsync(app.CreateBrowserClient(), email);
        await app.WaitForMailAsync(email, m => m.Subject?.Contains("Confirm", StringComparison.OrdinalIgnoreCase) == true);
    }

    [Fact]
    public async Task TheApiLiftsASuppressionOnceAndNeedsTheWriteScope()
    {
        using var app = new NewsletterApp();
        var api = await ClientAsync(app);
        var body = new StringContent("""{"email":"blocked@example.org"}""", Encoding.UTF8, "application/json");
        Assert.Equal(HttpStatusCode.Created, (await api.PostAsync("/api/v1/suppressions", body, Ct)).StatusCode);

        var reader = await ClientAsync(app, Web.Api.ApiScopes.Read);
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.DeleteAsync("/api/v1/suppressions?email=blocked%40example.org", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await api.DeleteAsync("/api/v1/suppressions?email=Blocked%40Example.org", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await api.DeleteAsync("/api/v1/suppressions?email=blocked%40example.org", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await api.DeleteAsync("/api/v1/suppressions?email=not-an-address", Ct)).StatusCode);
        var check = await GetJsonAsync(api, "/api/v1/suppressions/check?email=blocked%40example.org");
        Assert.False(check.GetProperty("suppressed").GetBoolean());

        // Now the address can be added again.
        var added = await api.PostAsync("/api/v1/subscribers", new StringContent("""{"email":"blocked@example.org"}""", Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        await using var scope = app.Services.CreateAsyncScope();
        Assert.True(await scope.ServiceProvider.GetRequiredService<AppDbContext>().AuditEntries.AnyAsync(e => e.Action == AuditActions.SuppressionLift, Ct));
    }
}

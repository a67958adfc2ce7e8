using System.Net;
using Newsletter.Testing;
using static Newsletter.Tests.Admin.AuthorTestClients;

namespace Newsletter.Tests.Mail;

public class OutboxTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ACoAuthorCannotSeeTheOwnersResetLinkInTheListOrByItsAddress()
    {
        using var app = new NewsletterApp();
        var owner = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(owner, "owner@example.org", Password);
        var coAuthor = await CoAuthorAsync(app, owner);

        await Forms.PostAsync(app.CreateBrowserClient(), "/admin/forgot-password", new Dictionary<string, string> { ["Email"] = "owner@example.org" });
        var reset = await app.WaitForMailAsync("owner@example.org", m => m.TextBody?.Contains("/admin/reset-password", StringComparison.Ordinal) == true);
        var file = Directory.GetFiles(app.PickupFolder, "*.eml", SearchOption.AllDirectories)
            .Single(f => File.ReadAllText(f).Contains(reset.MessageId!, StringComparison.Ordinal));
        var name = Path.GetFileName(file);

        // The co-author: no Outbox at all, and no message by its address.
        var list = await coAuthor.GetAsync("/admin/outbox", Ct);
        Assert.Equal(HttpStatusCode.Forbidden, list.StatusCode);
        Assert.DoesNotContain("reset-password", await list.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        foreach (var guess in new[] { name, "account/" + name, "account%2F" + name, "..%2Faccount%2F" + name })
        {
            var message = await coAuthor.GetAsync("/admin/outbox/" + guess, Ct);
            Assert.NotEqual(HttpStatusCode.OK, message.StatusCode);
            Assert.DoesNotContain("reset-password", await message.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        // Nor any reader mail, whose manage links are the owner's to see.
        await app.CreateClient().PostAsync("/subscribe", System.Net.Http.Json.JsonContent.Create(new { email = "reader@example.org" }), Ct);
        var confirm = await app.WaitForMailAsync("reader@example.org");
        var readerMail = Path.GetFileName(Directory.GetFiles(app.PickupFolder, "*.eml")
            .Single(f => File.ReadAllText(f).Contains(confirm.MessageId!, StringComparison.Ordinal)));
        Assert.Equal(HttpStatusCode.Forbidden, (await coAuthor.GetAsync("/admin/outbox/" + readerMail, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await coAuthor.GetAsync("/admin/preview/outbox/" + readerMail, Ct)).StatusCode);

        // The owner sees reader mail there, but account mail (the co-author's invitation, the owner's reset) never.
        var ownersList = await owner.GetAsync("/admin/outbox", Ct);
        Assert.Equal(HttpStatusCode.OK, ownersList.StatusCode);
        var ownersPage = await ownersList.Content.ReadAsStringAsync(Ct);
        Assert.DoesNotContain(name, ownersPage, StringComparison.Ordinal);
        Assert.DoesNotContain("ada@example.org", ownersPage, StringComparison.Ordinal);
        Assert.Contains("reader@example.org", ownersPage, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync("/admin/outbox/" + readerMail, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await owner.GetAsync("/admin/outbox/" + name, Ct)).StatusCode);
    }

    [Fact]
    public async Task AnUnreadableMessageIsShownAsSuchNotAsAnError()
    {
        using var app = new NewsletterApp();
        var owner = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(owner, "owner@example.org", Password);
        Directory.CreateDirectory(app.PickupFolder);
        await File.WriteAllTextAsync(Path.Combine(app.PickupFolder, "20260101-000000-0000000-broken.eml"), "", Ct);

        Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync("/admin/outbox", Ct)).StatusCode);
        var message = await owner.GetAsync("/admin/outbox/20260101-000000-0000000-broken.eml", Ct);
        Assert.Equal(HttpStatusCode.OK, message.StatusCode);
        Assert.Contains("unreadable message", await message.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ThePreviewOfAMissingIssueIsA404()
    {
        using var app = new NewsletterApp();
        var owner = app.CreateBrowserClient();
        await Forms.SetUpOwnerAsync(owner, "owner@example.org", Password);

        Assert.Equal(HttpStatusCode.NotFound, (await owner.GetAsync("/admin/preview/issues/999/email.html", Ct)).StatusCode);
    }
}

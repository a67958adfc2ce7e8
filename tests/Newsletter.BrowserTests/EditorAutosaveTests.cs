using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Newsletter.Testing;

namespace Newsletter.BrowserTests;

/// <summary>Nothing the author types is lost: autosave, a reload, leaving the page, and a session that ends mid-edit.</summary>
public class EditorAutosaveTests
{
    private const string Password = "a long and memorable passphrase";

    [Fact]
    public async Task ANoteDraftSavesItselfAndSurvivesAReloadInAnotherBrowser()
    {
        await using var desk = await Desk.OpenAsync();
        var (app, page) = (desk.App, desk.Page);
        await Browser.SetUpOwnerAsync(page);

        // A new note: no Save pressed. The first autosave creates the draft and the page becomes its page.
        await page.GotoAsync("/admin/notes/new");
        await page.GetByLabel("Title").FillAsync("Typed, never saved by hand");
        await page.GetByLabel("Markdown").FillAsync("The first paragraph, which must not be lost.");
        await Assertions.Expect(page.Locator("#autosave-status")).ToContainTextAsync("Saved at");
        await Assertions.Expect(page).ToHaveURLAsync(new Regex(@"/admin/notes/\d+$"));
        await page.GetByLabel("Markdown").FillAsync("The first paragraph, which must not be lost.\n\nAnd a second one.");
        await Assertions.Expect(page.Locator("#autosave-status")).ToContainTextAsync("Saved at");
        await Browser.ScreenshotAsync(page, "admin-note-autosaved");

        // Another browser (nothing kept in its storage) signed in as the same author sees the server's copy.
        var second = await desk.OtherBrowserAsync(page.Url);
        await Assertions.Expect(second.GetByLabel("Title")).ToHaveValueAsync("Typed, never saved by hand");
        await Assertions.Expect(second.GetByLabel("Markdown")).ToHaveValueAsync("The first paragraph, which must not be lost.\n\nAnd a second one.");
        await Assertions.Expect(second.Locator(".badge").First).ToHaveTextAsync("Draft");

        // The same draft edited in the second browser, then in the first (which still shows the older version):
        // the first's autosave is refused rather than overwrite the newer save, and its text is kept.
        await second.GetByLabel("Markdown").FillAsync("Rewritten in the second browser.");
        await Assertions.Expect(second.Locator("#autosave-status")).ToContainTextAsync("Saved at");
        await page.GetByLabel("Markdown").FillAsync("Edited in the first browser, on an old version.");
        await Assertions.Expect(page.Locator("#autosave-status")).ToContainTextAsync("saved elsewhere");
        await second.ReloadAsync();
        await Assertions.Expect(second.GetByLabel("Markdown")).ToHaveValueAsync("Rewritten in the second browser.");

        // The first browser reloads: it offers its own text beside the newer version instead of dropping it.
        await page.ReloadAsync();
        await Assertions.Expect(page.Locator("#autosave-status")).ToContainTextAsync("saved elsewhere since");
        await Assertions.Expect(page.GetByLabel("Markdown")).ToHaveValueAsync("Rewritten in the second browser.");
        await page.GetByRole(AriaRole.Button, new() { Name = "Use my text" }).ClickAsync();
        await Assertions.Expect(page.GetByLabel("Markdown")).ToHaveValueAsync("Edited in the first browser, on an old version.");
        await Assertions.Expect(page.Locator("#autosave-status")).ToContainTextAsync("Saved at");
        await second.ReloadAsync();
        await Assertions.Expect(second.GetByLabel("Markdown")).ToHaveValueAsync("Edited in the first browser, on an old version.");
        Assert.DoesNotContain("Exception", app.Log, StringComparison.Ordinal);
    }

    /// <summary>Save pressed in a tab that shows an older version: refused, and what was typed there is offered back, not lost.</summary>
    [Fact]
    public async Task AnIssueSaveRefusedBecauseAnotherTabSavedFirstOffersTheTextBack()
    {
        await using var desk = await Desk.OpenAsync();
        var (app, page) = (desk.App, desk.Page);
        await Browser.SetUpOwnerAsync(page);
        await page.GotoAsync("/admin/issues");
        await page.GetByRole(AriaRole.Button, new() { Name = "Write an issue" }).ClickAsync();
        await page.GetByLabel("Subject").FillAsync("Two tabs");
        await page.GetByLabel("Body (Markdown)").FillAsync("The first version.");
        await Assertions.Expect(page.Locator("#autosave-status")).ToContainTextAsync("Saved at");
        var second = await desk.OtherBrowserAsync(page.Url);
        await second.GetByLabel("Body (Markdown)").FillAsync("Saved in the second tab.");
        await Assertions.Expect(second.Locator("#autosave-status")).ToContainTextAsync("Saved at");

        // The first tab's autosave is held back, so its Save by hand is what meets the newer version.
        await page.RouteAsync("**/*handler=Autosave*", route => route.AbortAsync());
        await page.GetByLabel("Body (Markdown)").FillAsync("Typed in the first tab, saved by hand.");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByText("This draft was saved elsewhere")).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByLabel("Body (Markdown)")).ToHaveValueAsync("Saved in the second tab.");
        await page.UnrouteAllAsync();
        await Browser.ScreenshotAsync(page, "admin-issue-save-refused");
        await page.GetByRole(AriaRole.Button, new() { Name = "Use my text" }).ClickAsync();
        await Assertions.Expect(page.GetByLabel("Body (Markdown)")).ToHaveValueAsync("Typed in the first tab, saved by hand.");
        await Assertions.Expect(page.Locator("#autosave-status")).ToContainTextAsync("Saved at");
        await second.ReloadAsync();
        await Assertions.Expect(second.GetByLabel("Body (Markdown)")).ToHaveValueAsync("Typed in the first tab, saved by hand.");
        Assert.DoesNotContain("Exception", app.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TextTypedBeforeTheEditorScriptRunsIsSavedLikeTheRest()
    {
        await using var desk = await Desk.OpenAsync();
        var (app, page) = (desk.App, desk.Page);
        await Browser.SetUpOwnerAsync(page);

        // A slow page: the form is on the screen, and the author types, before the autosave script has run
        // (CI's busy machine did this by chance; here the script is held back until the typing is done).
        var typed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await page.RouteAsync("**/js/autosave.js*", async route =>
        {
            await typed.Task;
            await route.ContinueAsync();
        });
        await page.GotoAsync("/admin/notes/new", new() { WaitUntil = WaitUntilState.Commit });
        await page.GetByLabel("Title").FillAsync("Typed while the page loaded");
        await page.GetByLabel("Markdown").FillAsync("Before any script was listening.");
        typed.SetResult();

        await Assertions.Expect(page.Locator("#autosave-status")).ToContainTextAsync("Saved at");
        await Assertions.Expect(page).ToHaveURLAsync(new Regex(@"/admin/notes/\d+$"));

        // The server has it: another browser, with nothing in its storage, sees the text.
        var second = await desk.OtherBrowserAsync(page.Url);
        await Assertions.Expect(second.GetByLabel("Title")).ToHaveValueAsync("Typed while the page loaded");
        await Assertions.Expect(second.GetByLabel("Markdown")).ToHaveValueAsync("Before any script was listening.");
        Assert.DoesNotContain("Exception", app.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignedOutMidEditTheTextComesBackAfterSigningInAndLeavingWithUnsavedChangesAsksFirst()
    {
        await using var desk = await Desk.OpenAsync();
        var (app, context, page) = (desk.App, desk.Context, desk.Page);
        // Every form page used to log a Content-Security-Policy violation (an inline style in the validation summary).
        var console = new List<string>();
        page.Console += (_, m) => console.Add(m.Text);
        await Browser.SetUpOwnerAsync(page);

        await page.GotoAsync("/admin/issues");
        await page.GetByRole(AriaRole.Button, new() { Name = "Write an issue" }).ClickAsync();
        await page.GetByLabel("Subject").FillAsync("Kept through a sign-in");
        await page.GetByLabel("Body (Markdown)").FillAsync("Before the session ended.");
        await Assertions.Expect(page.Locator("#autosave-status")).ToContainTextAsync("Saved at");
        var issueUrl = page.Url;

        // The session ends (the cookie expires or is revoked) while the author keeps typing.
        await context.ClearCookiesAsync(new() { Name = "newsletter.auth" });
        await page.GetByLabel("Body (Markdown)").FillAsync("Before the session ended.\n\nWritten after it ended.");
        await Assertions.Expect(page.Locator("#autosave-status")).ToContainTextAsync("You were signed out");
        await Browser.ScreenshotAsync(page, "admin-issue-signed-out");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in again" }).ClickAsync();
        await Assertions.Expect(page).ToHaveURLAsync(new Regex("/admin/login"));
        await page.GetByLabel("Email").FillAsync("maren@example.org");
        await page.GetByLabel("Password").FillAsync(Password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();

        // Back on the editor: the text typed while signed out is there and is saved.
        await Assertions.Expect(page).ToHaveURLAsync(issueUrl);
        await Assertions.Expect(page.GetByLabel("Body (Markdown)")).ToHaveValueAsync("Before the session ended.\n\nWritten after it ended.");
        await Assertions.Expect(page.Locator("#autosave-status")).ToContainTextAsync("Saved at");

        // Signed out again, and this time the author presses Save: the post is lost on the way to the login
        // page, but the page after signing in puts the text back (and the handler in the address is dropped).
        await context.ClearCookiesAsync(new() { Name = "newsletter.auth" });
        await page.GetByLabel("Subject").FillAsync("Kept through a second sign-in");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save", Exact = true }).ClickAsync();
        await Assertions.Expect(page).ToHaveURLAsync(new Regex("/admin/login"));
        await page.GetByLabel("Email").FillAsync("maren@example.org");
        await page.GetByLabel("Password").FillAsync(Password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page).ToHaveURLAsync(issueUrl);
        await Assertions.Expect(page.GetByLabel("Subject")).ToHaveValueAsync("Kept through a second sign-in");
        await Assertions.Expect(page.Locator("#autosave-status")).ToContainTextAsync("Saved at");

        // The server has both edits: another browser sees them.
        var second = await desk.OtherBrowserAsync(issueUrl);
        await Assertions.Expect(second.GetByLabel("Subject")).ToHaveValueAsync("Kept through a second sign-in");
        await Assertions.Expect(second.GetByLabel("Body (Markdown)")).ToHaveValueAsync("Before the session ended.\n\nWritten after it ended.");

        // A scheduled issue is not saved by itself; leaving with unsaved changes asks first.
        var dialogs = new List<string>();
        page.Dialog += async (_, dialog) =>
        {
            dialogs.Add(dialog.Type);
            await dialog.DismissAsync();
        };
        await page.GetByLabel("Preheader").FillAsync("Not saved yet");
        await Assertions.Expect(page.Locator("#autosave-status")).ToContainTextAsync("Saved at");
        // The autosave brought back this version's question and warnings, so the first Schedule schedules.
        await page.GetByRole(AriaRole.Button, new() { Name = "Schedule", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator(".badge").First).ToHaveTextAsync("Scheduled");
        await page.GetByLabel("Preheader").FillAsync("Changed after scheduling");
        await Assertions.Expect(page.Locator("#autosave-status")).ToContainTextAsync("not saved by itself");
        await page.GetByRole(AriaRole.Link, new() { Name = "Issues", Exact = true }).ClickAsync();
        for (var i = 0; i < 200 && dialogs.Count == 0; i++)
        {
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }

        Assert.Equal(["beforeunload"], dialogs);
        Assert.EndsWith(new Uri(issueUrl).AbsolutePath, page.Url, StringComparison.Ordinal);
        Assert.DoesNotContain(console, m => m.Contains("Content Security Policy", StringComparison.Ordinal));
        Assert.DoesNotContain("Exception", app.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EditThenSendSendsTheEditAfterShowingItAndItsWarnings()
    {
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        await using var smtp = await SmtpServer.StartAsync();
        await using var app = new AppProcess(new Dictionary<string, string>
        {
            ["Mail__Transport"] = "Smtp",
            ["Mail__Smtp__Host"] = "127.0.0.1",
            ["Mail__Smtp__Port"] = smtp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Mail__Smtp__Security"] = "None",
        });
        await app.StartAsync();
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = app.BaseUrl, ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        page.SetDefaultTimeout(20_000);
        await Browser.SetUpOwnerAsync(page);
        foreach (var reader in new[] { "ada@example.org", "grace@example.org" })
        {
            await page.GotoAsync("/admin/subscribers/new");
            await page.GetByLabel("Email", new() { Exact = true }).FillAsync(reader);
            await page.GetByLabel("Add as active: they already agreed").CheckAsync();
            await page.GetByLabel("Where did they agree?").FillAsync("asked in person");
            await page.GetByRole(AriaRole.Button, new() { Name = "Add subscriber" }).ClickAsync();
            await Assertions.Expect(page.GetByText(reader).First).ToBeVisibleAsync();
        }

        await page.GotoAsync("/admin/issues");
        await page.GetByRole(AriaRole.Button, new() { Name = "Write an issue" }).ClickAsync();
        await page.GetByLabel("Subject").FillAsync("The old subject");
        await page.GetByLabel("Body (Markdown)").FillAsync("The old body.");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status).First).ToContainTextAsync("Saved");

        // Edited, without Save, with a link no reader could open. Edited and sent before the autosave is the
        // server's test (SendingTests): nothing goes out and the page shows the edit. Here the autosave lands
        // first and the confirm step shows the saved version's question and warning; that is what Send now sends.
        await page.GetByLabel("Subject").FillAsync("The new subject");
        await page.GetByLabel("Body (Markdown)").FillAsync("The **new** body, with [a link](http://localhost:8080/draft).");
        // The warning arrives with the autosave of the body that has the link: only then is that version saved.
        await Assertions.Expect(page.Locator("[data-preflight]")).ToContainTextAsync("localhost");
        Assert.Equal(0, smtp.Count);
        await page.GetByText("Send now…").ClickAsync();
        await Assertions.Expect(page.GetByText("Send “The new subject” to 2 readers now?")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-preflight]")).ToContainTextAsync("localhost");
        await Browser.ScreenshotAsync(page, "admin-issue-send-confirm");
        await page.GetByRole(AriaRole.Button, new() { Name = "Yes, send now" }).ClickAsync();
        await Assertions.Expect(page).ToHaveURLAsync(new Regex(@"/admin/issues/\d+/progress$"));

        var received = await smtp.WaitForAsync(2);
        Assert.All(received, r => Assert.Equal("The new subject", r.Message.Subject));
        Assert.All(received, r => Assert.Contains("new", r.Message.TextBody, StringComparison.Ordinal));
        Assert.DoesNotContain("Exception", app.Log, StringComparison.Ordinal);
    }

    private static async Task SignInAsync(IPage page, string url)
    {
        await page.GotoAsync(url);
        await page.GetByLabel("Email").FillAsync("maren@example.org");
        await page.GetByLabel("Password").FillAsync(Password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page).ToHaveURLAsync(url);
    }

    /// <summary>The browser, the app and the owner signed in on a desktop-sized page: each test's start.</summary>
    private sealed class Desk : IAsyncDisposable
    {
        private readonly IPlaywright _playwright;

        private Desk(IPlaywright playwright, IBrowser browser, AppProcess app)
        {
            (_playwright, Browser, App) = (playwright, browser, app);
        }

        public IBrowser Browser { get; }

        public AppProcess App { get; }

        public IBrowserContext Context { get; private set; } = null!;

        public IPage Page { get; private set; } = null!;

        public static async Task<Desk> OpenAsync()
        {
            var (playwright, browser) = await Testing.Browser.LaunchAsync();
            var desk = new Desk(playwright, browser, new AppProcess());
            try
            {
                await desk.App.StartAsync();
                desk.Context = await browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = desk.App.BaseUrl, ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
                desk.Page = await desk.Context.NewPageAsync();
                desk.Page.SetDefaultTimeout(20_000);
                return desk;
            }
            catch
            {
                await desk.DisposeAsync();
                throw;
            }
        }

        /// <summary>Another browser, nothing in its storage, signed in as the same author on <paramref name="url"/>.</summary>
        public async Task<IPage> OtherBrowserAsync(string url)
        {
            var other = await Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = App.BaseUrl });
            var page = await other.NewPageAsync();
            await SignInAsync(page, url);
            return page;
        }

        public async ValueTask DisposeAsync()
        {
            await App.DisposeAsync();
            await Browser.DisposeAsync();
            _playwright.Dispose();
        }
    }
}

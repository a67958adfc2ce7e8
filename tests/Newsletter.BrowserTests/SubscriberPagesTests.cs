using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Newsletter.Testing;

namespace Newsletter.BrowserTests;

/// <summary>
/// Every page a subscriber meets (subscribe, check your inbox, a bad address, confirm, preferences,
/// unsubscribe, a broken link) and the author's list pages (subscribers, a subscriber, import, an import's
/// progress), each at desktop and phone size: screenshotted for review, checked with axe, and checked for
/// sideways scrolling on the phone.
/// </summary>
public class SubscriberPagesTests
{
    [Fact]
    public async Task SubscriberAndListPagesPassAxeAndFitAPhone()
    {
        Axe.Require();
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        await using var app = await ReaderSite.StartAsync();
        await using var desktop = await browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = app.BaseUrl, BypassCSP = true, ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        await using var phone = await browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = app.BaseUrl,
            BypassCSP = true,
            ViewportSize = new ViewportSize { Width = 390, Height = 844 },
            DeviceScaleFactor = 2,
            IsMobile = true,
            HasTouch = true,
        });
        var reader = await desktop.NewPageAsync();
        var small = await phone.NewPageAsync();
        var problems = new List<string>();

        async Task ReviewAsync(IPage page, string name, string size)
        {
            await Browser.ScreenshotAsync(page, $"{name}-{size}");
            problems.AddRange(await Axe.CheckAsync(page, $"{name} ({size})"));
            // Against the viewport we asked for: a mobile browser widens its layout viewport to fit content
            // that overflows, so window.innerWidth would grow with the very overflow we look for.
            var widths = new[] { await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth"), page.ViewportSize!.Width };
            if (widths[0] > widths[1])
            {
                problems.Add($"{name} ({size}): {widths[0]}px wide in a {widths[1]}px viewport");
            }
        }

        async Task BothAsync(string name, string url)
        {
            await reader.GotoAsync(url);
            await ReviewAsync(reader, name, "desktop");
            await small.GotoAsync(url);
            await ReviewAsync(small, name, "phone");
        }

        // Subscribing from the about page, with a typo first.
        await reader.GotoAsync("/about");
        await reader.Locator("#subscribe").GetByLabel("Email address").FillAsync("reader@example");
        await reader.Locator("#subscribe").GetByRole(AriaRole.Button, new() { Name = "Subscribe" }).ClickAsync();
        await Assertions.Expect(reader.GetByRole(AriaRole.Alert)).ToContainTextAsync("needs a dot");
        await ReviewAsync(reader, "subscribe-error", "desktop");
        await reader.Locator("#subscribe").GetByLabel("Email address").FillAsync("reader@example.org");
        await reader.Locator("#subscribe").GetByRole(AriaRole.Button, new() { Name = "Subscribe" }).ClickAsync();
        await Assertions.Expect(reader.GetByRole(AriaRole.Heading, new() { Name = "Check your inbox" })).ToBeVisibleAsync();
        await ReviewAsync(reader, "subscribe-check-inbox", "desktop");
        await small.GotoAsync(reader.Url);
        await ReviewAsync(small, "subscribe-check-inbox", "phone");

        // Confirming: the link shows a button; the button confirms.
        var confirm = await Outbox.WaitForAsync(app.PickupFolder, "reader@example.org", m => m.TextBody?.Contains("/confirm/", StringComparison.Ordinal) == true);
        var confirmUrl = Outbox.Link(confirm, "/confirm/");
        await BothAsync("subscribe-confirm", confirmUrl);
        await reader.GetByRole(AriaRole.Button, new() { Name = "Confirm my subscription" }).ClickAsync();
        await Assertions.Expect(reader.GetByRole(AriaRole.Heading, new() { Name = "You're subscribed" })).ToBeVisibleAsync();
        await ReviewAsync(reader, "subscribe-confirmed", "desktop");
        await BothAsync("subscribe-bad-link", "/confirm/this-link-was-cut-short");

        // Preferences and unsubscribing, from the welcome email.
        var welcome = await Outbox.WaitForAsync(app.PickupFolder, "reader@example.org", m => m.Subject?.Contains("Welcome", StringComparison.Ordinal) == true);
        await BothAsync("preferences", Outbox.Link(welcome, "/preferences/"));
        await reader.GetByLabel("Your name").FillAsync("A Reader");
        await reader.GetByRole(AriaRole.Checkbox).First.CheckAsync();
        await reader.GetByLabel("Take a break").SelectOptionAsync("30");
        await reader.GetByRole(AriaRole.Button, new() { Name = "Save preferences" }).ClickAsync();
        await Assertions.Expect(reader.GetByRole(AriaRole.Status)).ToContainTextAsync("Saved");
        await ReviewAsync(reader, "preferences-saved", "desktop");
        await BothAsync("unsubscribe", Outbox.Link(welcome, "/unsubscribe/"));
        await reader.GetByRole(AriaRole.Button, new() { Name = "Unsubscribe" }).ClickAsync();
        await Assertions.Expect(reader.GetByRole(AriaRole.Heading, new() { Name = "You're unsubscribed" })).ToBeVisibleAsync();
        await ReviewAsync(reader, "unsubscribed", "desktop");

        // The author's side: set up, import a list with a few bad rows, look at the list and a reader.
        await reader.GotoAsync("/admin/setup");
        await reader.GetByLabel("Your name").FillAsync("Maren");
        await reader.GetByLabel("Email").FillAsync("maren@example.org");
        await reader.GetByLabel("Password").FillAsync("a long and memorable passphrase");
        await reader.GetByRole(AriaRole.Button, new() { Name = "Create owner account" }).ClickAsync();
        await Assertions.Expect(reader.GetByRole(AriaRole.Heading, new() { Name = "Dashboard" })).ToBeVisibleAsync();
        var storage = await desktop.StorageStateAsync();
        await using var phoneAdmin = await browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = app.BaseUrl,
            BypassCSP = true,
            StorageState = storage,
            ViewportSize = new ViewportSize { Width = 390, Height = 844 },
            DeviceScaleFactor = 2,
            IsMobile = true,
            HasTouch = true,
        });
        small = await phoneAdmin.NewPageAsync();

        var csv = Path.Combine(app.Root, "readers.csv");
        var rows = new StringBuilder("email,first name,last name,tags,subscribed\n");
        for (var i = 1; i <= 40; i++)
        {
            rows.Append(System.Globalization.CultureInfo.InvariantCulture, $"reader{i:D2}@example.org,Reader,Number {i},{(i % 3 == 0 ? "early" : "")},2026-0{1 + (i % 9)}-1{i % 10}\n");
        }

        rows.Append("not an address,Broken,Row,,\nreader01@example.org,Twice,In the file,,\nlate@example.org,Bad,Date,,the 5th of never\n");
        await File.WriteAllTextAsync(csv, rows.ToString(), TestContext.Current.CancellationToken);
        await BothAsync("admin-import", "/admin/subscribers/import");
        await reader.GetByLabel("CSV file").SetInputFilesAsync(csv);
        await reader.GetByLabel("Tag every imported row with").FillAsync("imported-2026");
        await reader.GetByLabel("…already agreed: add them as active").CheckAsync();
        await reader.GetByLabel("Where did they agree? (required for \"active\")").FillAsync("exported from our previous provider");
        await reader.GetByRole(AriaRole.Button, new() { Name = "Start import" }).ClickAsync();
        await Assertions.Expect(reader.Locator("[data-field=status]")).ToHaveTextAsync("Completed", new() { Timeout = 30_000 });
        await Assertions.Expect(reader.Locator("[data-field=imported]")).ToHaveTextAsync("40");
        await Assertions.Expect(reader.Locator("[data-field=invalid]")).ToHaveTextAsync("2");
        await ReviewAsync(reader, "admin-import-status", "desktop");
        await small.GotoAsync(reader.Url);
        await ReviewAsync(small, "admin-import-status", "phone");

        await BothAsync("admin-subscribers", "/admin/subscribers");
        await reader.GetByRole(AriaRole.Link, new() { Name = "reader@example.org" }).ClickAsync();
        await Assertions.Expect(reader.GetByRole(AriaRole.Heading, new() { Name = "reader@example.org" })).ToBeVisibleAsync();
        await Assertions.Expect(reader.Locator(".history")).ToContainTextAsync("Confirmed");
        await Assertions.Expect(reader.Locator(".history")).ToContainTextAsync("Preferences changed");
        var detail = reader.Url;
        await ReviewAsync(reader, "admin-subscriber", "desktop");
        await small.GotoAsync(detail);
        await ReviewAsync(small, "admin-subscriber", "phone");
        await BothAsync("admin-subscribers-filtered", "/admin/subscribers?status=active&tag=early");
        await BothAsync("admin-subscriber-new", "/admin/subscribers/new");

        Assert.True(problems.Count == 0, string.Join('\n', problems));
        Assert.DoesNotContain("Exception", app.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ALongAddressAndAPastedLinkWrapInsteadOfWideningAPhonesPage()
    {
        var (playwright, browser) = await Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        await using var app = await ReaderSite.StartAsync();
        var reader = await browser.NewPageAsync(ReaderSite.Desktop(app));
        var phone = await browser.NewPageAsync(ReaderSite.Phone(app));

        // A real reader's address: one word of 48 characters, wider than a phone's line.
        const string address = "maximilian.mustermann@stadtverwaltung-berlin.de";
        await reader.GotoAsync("/about");
        await reader.Locator("#subscribe").GetByLabel("Email address").FillAsync(address);
        await reader.Locator("#subscribe").GetByRole(AriaRole.Button, new() { Name = "Subscribe" }).ClickAsync();
        var confirm = await Outbox.WaitForAsync(app.PickupFolder, address, m => m.TextBody?.Contains("/confirm/", StringComparison.Ordinal) == true);
        await reader.GotoAsync(Outbox.Link(confirm, "/confirm/"));
        await reader.GetByRole(AriaRole.Button, new() { Name = "Confirm my subscription" }).ClickAsync();
        var welcome = await Outbox.WaitForAsync(app.PickupFolder, address, m => m.Subject?.Contains("Welcome", StringComparison.Ordinal) == true);
        var preferences = Outbox.Link(welcome, "/preferences/");
        await reader.GotoAsync(preferences);
        await reader.GetByRole(AriaRole.Button, new() { Name = "Email me a copy of my data" }).ClickAsync();
        var data = await Outbox.WaitForAsync(app.PickupFolder, address, m => m.TextBody?.Contains("/your-data/", StringComparison.Ordinal) == true);

        var overflowing = new List<string>();
        var pages = new[]
        {
            ("long-address-preferences", preferences),
            ("long-address-unsubscribe", Outbox.Link(welcome, "/unsubscribe/")),
            ("long-address-your-data", Outbox.Link(data, "/your-data/")),
            ("long-search", "/search?q=" + Uri.EscapeDataString("https://example.org/2026/12/a/very/long/path/that/keeps/going/and/going/without/any/spaces/index.html")),
        };
        foreach (var (name, url) in pages)
        {
            await phone.GotoAsync(url);
            await Browser.ScreenshotAsync(phone, name + "-phone");
            // Against the viewport asked for, as in the test above: innerWidth would grow with the overflow.
            var width = await phone.EvaluateAsync<int>("() => document.documentElement.scrollWidth");
            if (width > phone.ViewportSize!.Width)
            {
                overflowing.Add($"{name}: {width}px wide in a {phone.ViewportSize.Width}px viewport");
            }
        }

        Assert.Empty(overflowing);
    }
}

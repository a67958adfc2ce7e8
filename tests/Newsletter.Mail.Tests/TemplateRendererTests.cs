using Newsletter.Testing;

namespace Newsletter.Mail.Tests;

public class TemplateRendererTests
{
    public static readonly string[] Required = ["confirm", "welcome", "already-subscribed", "preferences", "password-reset", "invitation", "issue", "digest-ready", "your-data"];

    internal static string RepoTemplates => Path.Combine(RepoPaths.Root, "templates", "email");

    /// <summary>Every variable any template documents, as the app passes them.</summary>
    internal static Dictionary<string, object?> Model() => new()
    {
        ["site"] = new Dictionary<string, object?> { ["title"] = "Field Notes", ["url"] = "https://field-notes.example" },
        ["subscriber"] = new Dictionary<string, object?> { ["email"] = "ann@example.org", ["name"] = "Ann <Reader>" },
        ["confirm_url"] = "https://field-notes.example/confirm/tok?x=1&y=2",
        ["unsubscribe_url"] = "https://field-notes.example/unsubscribe/tok",
        ["preferences_url"] = "https://field-notes.example/preferences/tok",
        ["footer_text"] = "Field Notes · Postfach 10 11 12 · 10117 Berlin",
        ["why"] = "You get this because ann@example.org subscribed to Field Notes.",
        ["expires_days"] = 7,
        ["expires_in"] = "7 days",
        ["expires_hours"] = 48,
        ["name"] = "Ann",
        ["inviter"] = "Maren",
        ["accept_url"] = "https://field-notes.example/invite/tok",
        ["reset_url"] = "https://field-notes.example/reset/tok",
        ["digest_name"] = "Weekly <notes>",
        ["action"] = "erase",
        ["action_url"] = "https://field-notes.example/your-data/tok",
        ["issue_subject"] = "Weekly <notes>: 7 December 2026",
        ["note_count"] = 3,
        ["review_url"] = "https://field-notes.example/admin/issues/42",
        ["preheader"] = "Why systems should fail visibly",
        ["issue"] = new Dictionary<string, object?>
        {
            ["subject"] = "Failing visibly",
            ["preheader"] = "Why systems should fail visibly",
            ["number"] = "12",
            ["date"] = new DateTime(2026, 9, 14, 6, 30, 0, DateTimeKind.Utc),
            ["web_url"] = "https://field-notes.example/archive/failing-visibly",
        },
        ["body_html"] = "<p>Systems should <strong>fail visibly</strong>.</p>",
        ["body_text"] = "Systems should fail visibly.",
    };

    private static string CopyOfTemplates()
    {
        var folder = RepoPaths.TempDir("templates");
        foreach (var file in Directory.GetFiles(RepoTemplates))
        {
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        }

        return folder;
    }

    [Fact]
    public void TheRepositoryTemplatesAreAllValid()
    {
        new TemplateRenderer(RepoTemplates).ValidateAll(Required);
    }

    [Theory]
    [MemberData(nameof(RequiredNames))]
    public void EachTemplateRendersASubjectAnHtmlAndATextBody(string name)
    {
        var (subject, html, text) = new TemplateRenderer(RepoTemplates).Render(name, Model());

        Assert.False(string.IsNullOrWhiteSpace(subject));
        Assert.DoesNotContain('\n', subject);
        Assert.DoesNotContain("{{", subject + html + text, StringComparison.Ordinal);
        Assert.DoesNotContain("{%", subject + html + text, StringComparison.Ordinal);
        Assert.StartsWith("<!DOCTYPE html>", html.TrimStart(), StringComparison.Ordinal);
        Assert.Contains("max-width:600px", html, StringComparison.Ordinal);
        Assert.Contains("Field Notes", html, StringComparison.Ordinal);
        Assert.Contains("Field Notes", text, StringComparison.Ordinal);
        Assert.DoesNotContain("<p", text, StringComparison.Ordinal);
        Assert.True(text.Length > 60, text);
    }

    public static TheoryData<string> RequiredNames() => [.. Required];

    [Fact]
    public void TheConfirmEmailCarriesTheEscapedLinkInHtmlAndThePlainLinkInText()
    {
        var (subject, html, text) = new TemplateRenderer(RepoTemplates).Render("confirm", Model());

        Assert.Contains("Field Notes", subject, StringComparison.Ordinal);
        Assert.Contains("href=\"https://field-notes.example/confirm/tok?x=1&amp;y=2\"", html, StringComparison.Ordinal);
        Assert.Contains("https://field-notes.example/confirm/tok?x=1&y=2", text, StringComparison.Ordinal);
        Assert.Contains("Ann &lt;Reader&gt;", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<Reader>", html, StringComparison.Ordinal);
    }

    [Fact]
    public void OptionalValuesLeftEmptyLeaveNoTrace()
    {
        var model = Model();
        model["subscriber"] = new Dictionary<string, object?> { ["email"] = "ann@example.org", ["name"] = "" };
        model["issue"] = new Dictionary<string, object?> { ["subject"] = "Failing visibly", ["number"] = "", ["web_url"] = "", ["preheader"] = "" };
        model["preheader"] = "";
        model["footer_text"] = "";
        var renderer = new TemplateRenderer(RepoTemplates);

        var confirm = renderer.Render("confirm", model);
        Assert.Contains(">Hello,</p>", confirm.Html, StringComparison.Ordinal);
        Assert.StartsWith("Hello,\n", confirm.Text, StringComparison.Ordinal);
        Assert.StartsWith("Welcome: you're subscribed.", renderer.Render("welcome", model).Text, StringComparison.Ordinal);
        var issue = renderer.Render("issue", model);
        Assert.DoesNotContain("Issue #", issue.Html + issue.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("Read it on the web", issue.Html + issue.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("display:none", issue.Html, StringComparison.Ordinal);
    }

    [Fact]
    public void TheIssueEmailHasHeaderBodyFooterAndPreheader()
    {
        var (subject, html, text) = new TemplateRenderer(RepoTemplates).Render("issue", Model());

        Assert.Equal("Failing visibly", subject);
        Assert.Contains("Issue #12 &middot; 14 September 2026 &middot; <a href=\"https://field-notes.example/archive/failing-visibly\"", html, StringComparison.Ordinal);
        Assert.Contains("Issue #12 of Field Notes, 14 September 2026", text, StringComparison.Ordinal);
        Assert.Contains("<strong>fail visibly</strong>", html, StringComparison.Ordinal);
        Assert.Contains("Why systems should fail visibly", html, StringComparison.Ordinal);
        Assert.Contains("https://field-notes.example/unsubscribe/tok", html, StringComparison.Ordinal);
        Assert.Contains("https://field-notes.example/preferences/tok", html, StringComparison.Ordinal);
        Assert.Contains("https://field-notes.example/archive/failing-visibly", html, StringComparison.Ordinal);
        Assert.Contains("You get this because", html, StringComparison.Ordinal);
        Assert.Contains("Postfach 10 11 12", html, StringComparison.Ordinal);
        Assert.Contains("Systems should fail visibly.", text, StringComparison.Ordinal);
        Assert.Contains("Unsubscribe: https://field-notes.example/unsubscribe/tok", text, StringComparison.Ordinal);
        Assert.Contains("Postfach 10 11 12", text, StringComparison.Ordinal);
    }

    [Fact]
    public void AMissingTemplateIsAnErrorNamingTheFile()
    {
        var folder = CopyOfTemplates();
        File.Delete(Path.Combine(folder, "welcome.text.liquid"));

        var e = Assert.Throws<TemplateException>(() => new TemplateRenderer(folder).ValidateAll(Required));

        Assert.Contains(Path.Combine(folder, "welcome.text.liquid"), e.Message, StringComparison.Ordinal);
        Assert.Contains("missing", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ABrokenTemplateIsAnErrorNamingTheFileTheLineAndTheProblem()
    {
        var folder = CopyOfTemplates();
        File.WriteAllText(Path.Combine(folder, "confirm.html.liquid"), "<p>Hello</p>\n<p>{% if subscriber.name %}{{ subscriber.name }}</p>\n");

        var e = Assert.Throws<TemplateException>(() => new TemplateRenderer(folder).ValidateAll(Required));

        Assert.Contains("confirm.html.liquid does not parse", e.Message, StringComparison.Ordinal);
        Assert.Contains("line 2", e.Message, StringComparison.Ordinal);
        Assert.Contains("endif", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AllProblemsAreReportedAtOnce()
    {
        var folder = CopyOfTemplates();
        File.Delete(Path.Combine(folder, "welcome.subject.liquid"));
        File.WriteAllText(Path.Combine(folder, "issue.text.liquid"), "{{ body_text | shout }}");

        var e = Assert.Throws<TemplateException>(() => new TemplateRenderer(folder).ValidateAll(Required));

        Assert.Contains("welcome.subject.liquid is missing", e.Message, StringComparison.Ordinal);
        Assert.Contains("issue.text.liquid does not parse", e.Message, StringComparison.Ordinal);
        Assert.Contains("'shout'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ATemplateThatRendersEmptyIsAnErrorEvenInsideTheLayout()
    {
        var folder = CopyOfTemplates();
        File.WriteAllText(Path.Combine(folder, "welcome.html.liquid"), "{% if missing %}<p>only sometimes</p>{% endif %}\n");

        var e = Assert.Throws<TemplateException>(() => new TemplateRenderer(folder).Render("welcome", Model()));

        Assert.Contains("'welcome'", e.Message, StringComparison.Ordinal);
        Assert.Contains("empty HTML body", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnEmptySubjectIsAnError()
    {
        var folder = CopyOfTemplates();
        File.WriteAllText(Path.Combine(folder, "welcome.subject.liquid"), "{{ nothing }}");

        var e = Assert.Throws<TemplateException>(() => new TemplateRenderer(folder).Render("welcome", Model()));
        Assert.Contains("empty subject", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AChangedTemplateIsPickedUpWithoutARestart()
    {
        var folder = CopyOfTemplates();
        var renderer = new TemplateRenderer(folder);
        Assert.StartsWith("Welcome to", renderer.Render("welcome", Model()).Subject, StringComparison.Ordinal);

        var path = Path.Combine(folder, "welcome.subject.liquid");
        File.WriteAllText(path, "Hello from {{ site.title }}, again");
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddSeconds(5));

        Assert.Equal("Hello from Field Notes, again", renderer.Render("welcome", Model()).Subject);
    }

    [Fact]
    public void FoldsLineBreaksInARenderedSubject()
    {
        var folder = CopyOfTemplates();
        File.WriteAllText(Path.Combine(folder, "welcome.subject.liquid"), "Welcome\r\nto {{ site.title }}\n");

        Assert.Equal("Welcome to Field Notes", new TemplateRenderer(folder).Render("welcome", Model()).Subject);
    }
}

using System.Net;
using System.Text;
using Newsletter.Testing;

namespace Newsletter.Mail.Tests;

/// <summary>
/// The Liquid an author can write in templates/email, through <see cref="TemplateRenderer"/> on real files: each
/// test writes an email "t" (a subject, the template under test as its HTML or text body, no layout) and partials
/// into a folder of its own.
/// </summary>
public class LiquidTests
{
    private static Dictionary<string, object?> Model() => new()
    {
        ["name"] = "Ann & <Bob>",
        ["nothing"] = "",
        ["count"] = 3,
        ["site"] = new Dictionary<string, object?> { ["title"] = "Field Notes" },
        ["body"] = "<p>hi</p>",
        ["trusted"] = new RawHtml("<b>ok</b>"),
        ["notes"] = new List<object?>
        {
            new Dictionary<string, object?> { ["title"] = "Leases", ["tags"] = new List<object?> { "sending", "sqlite" } },
            new Dictionary<string, object?> { ["title"] = "Heartbeats", ["tags"] = new List<object?>() },
        },
    };

    private static string Folder(string html = "x", string text = "x", params (string File, string Source)[] partials)
    {
        var folder = RepoPaths.TempDir("liquid");
        File.WriteAllText(Path.Combine(folder, "t.subject.liquid"), "Subject");
        File.WriteAllText(Path.Combine(folder, "t.html.liquid"), html);
        File.WriteAllText(Path.Combine(folder, "t.text.liquid"), text);
        foreach (var (file, source) in partials)
        {
            File.WriteAllText(Path.Combine(folder, file), source);
        }

        return folder;
    }

    private static string Html(string source, Dictionary<string, object?>? model = null, params (string, string)[] partials) =>
        new TemplateRenderer(Folder(html: source, partials: partials)).Render("t", model ?? Model()).Html;

    private static string Text(string source, Dictionary<string, object?>? model = null) =>
        new TemplateRenderer(Folder(text: source)).Render("t", model ?? Model()).Text.TrimEnd('\n');

    private static TemplateException Refused(string source, params (string, string)[] partials) =>
        Assert.Throws<TemplateException>(() => new TemplateRenderer(Folder(html: source, partials: partials)).Render("t", Model()));

    [Theory]
    // What the templates have always used.
    [InlineData("{{ name }}", "Ann &amp; &lt;Bob&gt;")]
    [InlineData("{{ name | raw }}", "Ann & <Bob>")]
    [InlineData("{{ body | raw }}", "<p>hi</p>")]
    [InlineData("{{ trusted }}", "<b>ok</b>")]
    [InlineData("{{ site.title | upcase }}", "FIELD NOTES")]
    [InlineData("{{ missing | default: \"friend\" }}", "friend")]
    [InlineData("{{ nothing | default: 'friend' }}", "friend")]
    [InlineData("{{ count }}", "3")]
    [InlineData("{{site.title}}", "Field Notes")]
    [InlineData("{% if name %}yes{% else %}no{% endif %}", "yes")]
    [InlineData("{% if nothing != blank %}yes{% else %}no{% endif %}", "no")]
    [InlineData("{% if nothing == empty and missing == blank %}yes{% endif %}", "yes")]
    [InlineData("{% if missing %}yes{% elsif count == 3 %}three{% endif %}", "three")]
    [InlineData("{% unless missing %}shown{% endunless %}", "shown")]
    [InlineData("{% if count == 3 and site.title == \"Field Notes\" %}both{% endif %}", "both")]
    [InlineData("{% if missing or count %}either{% endif %}", "either")]
    [InlineData("a{% comment %} {{ ignored }} {% endcomment %}b", "ab")]
    [InlineData("a  {%- if count -%}  b  {%- endif -%}  c", "abc")]
    // The rest of Liquid.
    [InlineData("{% for note in notes %}{{ forloop.index }}. {{ note.title }}{% unless forloop.last %}, {% endunless %}{% endfor %}", "1. Leases, 2. Heartbeats")]
    [InlineData("{% for note in notes %}{{ note.title }}: {{ note.tags | join: '+' | default: 'untagged' }};{% endfor %}", "Leases: sending+sqlite;Heartbeats: untagged;")]
    [InlineData("{% for note in missing %}x{% else %}nothing yet{% endfor %}", "nothing yet")]
    [InlineData("{% for i in (1..5) limit: 2 %}{{ i }}{% endfor %}", "12")]
    [InlineData("{% assign greeting = 'Hello ' | append: site.title %}{{ greeting }}!", "Hello Field Notes!")]
    [InlineData("{% assign n = notes | size %}{% if n > 1 %}{{ n }} notes{% endif %}", "2 notes")]
    [InlineData("{% capture line %}{{ count | plus: 1 }} of {{ site.title }}{% endcapture %}[{{ line }}]", "[4 of Field Notes]")]
    [InlineData("{% case count %}{% when 2 %}two{% when 3 %}three{% endcase %}", "three")]
    [InlineData("{{ 'a,b,c' | split: ',' | reverse | join: '' }}", "cba")]
    [InlineData("{{ body | strip_html }} {{ 'one two three' | truncatewords: 2 }}", "hi one two...")]
    [InlineData("{{ name | escape }}", "Ann &amp; &lt;Bob&gt;")]
    [InlineData("{% raw %}{{ not a variable }}{% endraw %}", "{{ not a variable }}")]
    public void RendersLiquid(string source, string expected)
    {
        Assert.Equal(expected, Html(source));
    }

    [Fact]
    public void PlainTextIsNotEncoded()
    {
        Assert.Equal("Ann & <Bob>", Text("{{ name }}"));
    }

    [Fact]
    public void AReadersNameStaysEscapedWhereverItGoesInHtml()
    {
        var model = Model();
        model["subscriber"] = new Dictionary<string, object?> { ["name"] = "<script>alert('x')</script> Zoë" };

        var html = Html("""
            <p>{{ subscriber.name }}</p>
            {% assign n = subscriber.name %}<p>{{ n }}</p>
            {% capture c %}Dear {{ subscriber.name }}{% endcapture %}<p>{{ c }}</p>
            {% include '_hello' %}
            {% render '_hello', subscriber: subscriber %}
            """, model, ("_hello.liquid", "<p>Hello {{ subscriber.name | upcase }}</p>"));

        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        // Escaped once (a capture is not escaped a second time), with the same rule as the rest of the mail path.
        Assert.Equal(3, html.Split(WebUtility.HtmlEncode("<script>alert('x')</script> Zoë")).Length - 1);
        Assert.Equal(2, html.Split("Hello &lt;SCRIPT&gt;").Length - 1);
        Assert.DoesNotContain("&amp;lt;", html, StringComparison.Ordinal);
    }

    [Fact]
    public void TheEncoderAgreesWithWebUtilityOnEveryPath()
    {
        const string value = "<a href=\"x\">O'Brien & Zoë · 😀</a> plain";
        var escaper = HtmlEscaper.Instance;
        var written = new StringWriter();
        escaper.Encode(written, value);
        var span = new char[value.Length * escaper.MaxOutputCharactersPerInputCharacter];
        escaper.Encode(value, span, out _, out var charsWritten);
        var utf8 = new byte[value.Length * 40];
        escaper.EncodeUtf8(Encoding.UTF8.GetBytes(value), utf8, out _, out var bytesWritten);

        var expected = WebUtility.HtmlEncode(value);
        Assert.Equal(expected, escaper.Encode(value));
        Assert.Equal(expected, written.ToString());
        Assert.Equal(expected, new string(span, 0, charsWritten));
        Assert.Equal(expected, Encoding.UTF8.GetString(utf8, 0, bytesWritten));
    }

    [Fact]
    public void DatesShowInTheSiteTimeZoneAndNowIsTheAppsClock()
    {
        var folder = Folder(html: """
            {{ winter | date: '%-d %B %Y, %H:%M %z' }}
            {{ summer | date: '%-d %B %Y, %H:%M %z' }}
            {{ 'now' | date: '%Y-%m-%d %H:%M' }}
            {{ '2026-05-04 09:00' | date: '%H:%M %z' }}
            """);
        var clock = new FixedClock(new DateTimeOffset(2026, 12, 31, 23, 30, 0, TimeSpan.Zero));
        var renderer = new TemplateRenderer(folder, TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin"), clock);
        var model = Model();
        model["winter"] = new DateTime(2026, 3, 1, 23, 30, 0, DateTimeKind.Utc);
        // As the database hands it back: UTC, but unspecified.
        model["summer"] = new DateTime(2026, 7, 1, 22, 30, 0, DateTimeKind.Unspecified);

        var lines = renderer.Render("t", model).Html.Split('\n', StringSplitOptions.TrimEntries);

        Assert.Equal("2 March 2026, 00:30 +0100", lines[0]);
        Assert.Equal("2 July 2026, 00:30 +0200", lines[1]);
        Assert.Equal("2027-01-01 00:30", lines[2]);
        // A date written in a template without a zone is the author's local time.
        Assert.Equal("09:00 +0200", lines[3]);
    }

    [Fact]
    public void IncludeAndRenderReadPartialsFromTheFolderWithTheirArguments()
    {
        var html = Html(
            "{% include '_greeting' %}|{% render '_button', url: 'https://x.example/?a=1&b=2', label: 'Go' %}|{% include '_greeting.liquid' with 'Bea' %}",
            null,
            ("_greeting.liquid", "Hi {{ _greeting | default: site.title }}"),
            ("_button.liquid", "<a href=\"{{ url }}\">{{ label }}</a>"));

        Assert.Equal("Hi Field Notes|<a href=\"https://x.example/?a=1&amp;b=2\">Go</a>|Hi Bea", html);
    }

    [Fact]
    public void AnIncludeCannotReachOutsideTheTemplatesFolderNorAnythingButATemplate()
    {
        var parent = RepoPaths.TempDir("liquid-outside");
        File.WriteAllText(Path.Combine(parent, "secret.liquid"), "the secret");
        var folder = Path.Combine(parent, "email");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "t.subject.liquid"), "Subject");
        File.WriteAllText(Path.Combine(folder, "t.text.liquid"), "x");
        File.WriteAllText(Path.Combine(folder, "notes.txt"), "not a template");

        foreach (var include in new[] { "{% include '../secret' %}", "{% render '../secret.liquid' %}", $"{{% include '{Path.Combine(parent, "secret")}' %}}", "{% include 'notes.txt' %}" })
        {
            File.WriteAllText(Path.Combine(folder, "t.html.liquid"), "ok\n" + include);
            var atStartUp = Assert.Throws<TemplateException>(() => new TemplateRenderer(folder).ValidateAll(["t"]));
            Assert.Contains("t.html.liquid does not parse: line 2: ", atStartUp.Message, StringComparison.Ordinal);
            Assert.Contains("is not a template in this folder", atStartUp.Message, StringComparison.Ordinal);
        }

        // A path made at run time is refused when it is used.
        File.WriteAllText(Path.Combine(folder, "t.html.liquid"), "{% include path %}");
        var model = Model();
        model["path"] = "../secret";
        var atRender = Assert.Throws<TemplateException>(() => new TemplateRenderer(folder).Render("t", model));
        Assert.Contains("'../secret' is not a template in this folder", atRender.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("the secret", atRender.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AChangedPartialIsPickedUpWithoutARestart()
    {
        var folder = Folder(html: "{% include '_footer' %}", partials: ("_footer.liquid", "old footer"));
        var renderer = new TemplateRenderer(folder);
        Assert.Equal("old footer", renderer.Render("t", Model()).Html);

        var path = Path.Combine(folder, "_footer.liquid");
        File.WriteAllText(path, "new footer of {{ site.title }}");
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddSeconds(5));

        Assert.Equal("new footer of Field Notes", renderer.Render("t", Model()).Html);
    }

    [Theory]
    [InlineData("ok\n{% if a %}", "line 2", "endif")]
    [InlineData("{{ name | shout }}", "line 1", "the filter 'shout' does not exist")]
    [InlineData("\n\n{{ name", "line 3", "'}}'")]
    [InlineData("{{ a + b }}", "line 1", "'}}'")]
    [InlineData("ok\n{% endif %}", "line 2", "Unknown tag 'endif'")]
    [InlineData("{% frobnicate %}", "line 1", "Unknown tag 'frobnicate'")]
    [InlineData("ok\n{% include '_missing' %}", "line 2", "'_missing' is not a template in this folder")]
    public void ABrokenTemplateIsRefusedAtStartUpNamingItsLine(string source, string line, string problem)
    {
        var e = Assert.Throws<TemplateException>(() => new TemplateRenderer(Folder(html: source)).ValidateAll(["t"]));

        Assert.Contains("t.html.liquid does not parse: " + line, e.Message, StringComparison.Ordinal);
        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ABrokenPartialIsRefusedAtStartUpEvenWhenNoEmailUsesIt()
    {
        var e = Assert.Throws<TemplateException>(() => new TemplateRenderer(Folder(partials: ("_unused.liquid", "a\nb {% for x in y %}"))).ValidateAll(["t"]));

        Assert.Contains("_unused.liquid does not parse: line 2", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    // A loop that runs too long.
    [InlineData("{% for a in (1..1000) %}{% for b in (1..1000) %}x{% endfor %}{% endfor %}", "100,000 steps")]
    // A range too large to build: Fluid would allocate all of it before the first turn.
    [InlineData("{% for i in (1..2000000000) %}x{% endfor %}", "the range (1..2000000000)")]
    [InlineData("{% assign n = 2000000000 %}{% for i in (0..n) %}x{% endfor %}", "the range (0..2000000000)")]
    // A template that includes itself.
    [InlineData("{% include '_self' %}", "nested more than 20 deep")]
    // A string that doubles in a loop, in an assign and in a capture.
    [InlineData("{% assign s = 'xxxxxxxxxx' %}{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}", "more than 10,000,000 characters")]
    [InlineData("{% capture s %}xxxxxxxxxx{% endcapture %}{% for i in (1..40) %}{% capture s %}{{ s }}{{ s }}{% endcapture %}{% endfor %}", "more than 10,000,000 characters")]
    public void AHostileTemplateIsStoppedWithItsFileName(string source, string why)
    {
        var e = Refused(source, ("_self.liquid", "a{% include '_self' %}"));

        Assert.Contains("t.html.liquid could not be rendered: stopped: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(why, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ANetObjectInTheModelShowsNothingOfItself()
    {
        var model = Model();
        model["file"] = new FileInfo("/etc/passwd");
        model["reader"] = new Reader("Ann", "hunter2");

        Assert.Equal("[][][]", Html("[{{ file.FullName }}][{{ file.Directory.Parent }}][{{ reader.Password }}]", model));
    }

    private sealed record Reader(string Name, string Password);

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}

namespace Newsletter.Mail.Tests;

public class LiquidTemplateTests
{
    private static string Render(string source, Dictionary<string, object?>? model = null, bool html = true) =>
        LiquidTemplate.Parse(source).Render(model ?? new Dictionary<string, object?>
        {
            ["name"] = "Ann & <Bob>",
            ["empty"] = "",
            ["count"] = 3,
            ["site"] = new Dictionary<string, object?> { ["title"] = "Field Notes" },
            ["body"] = "<p>hi</p>",
            ["trusted"] = new RawHtml("<b>ok</b>"),
        }, html);

    [Theory]
    [InlineData("{{ name }}", "Ann &amp; &lt;Bob&gt;")]
    [InlineData("{{ name | raw }}", "Ann & <Bob>")]
    [InlineData("{{ body | raw }}", "<p>hi</p>")]
    [InlineData("{{ trusted }}", "<b>ok</b>")]
    [InlineData("{{ site.title | upcase }}", "FIELD NOTES")]
    [InlineData("{{ missing | default: \"friend\" }}", "friend")]
    [InlineData("{{ empty | default: 'friend' }}", "friend")]
    [InlineData("{{ count }}", "3")]
    [InlineData("{{site.title}}", "Field Notes")]
    [InlineData("{% if name %}yes{% else %}no{% endif %}", "yes")]
    [InlineData("{% if empty != blank %}yes{% else %}no{% endif %}", "no")]
    [InlineData("{% if missing %}yes{% elsif count == 3 %}three{% endif %}", "three")]
    [InlineData("{% unless missing %}shown{% endunless %}", "shown")]
    [InlineData("{% if count == 3 and site.title == \"Field Notes\" %}both{% endif %}", "both")]
    [InlineData("{% if missing or count %}either{% endif %}", "either")]
    [InlineData("a{% comment %} {{ ignored }} {% endcomment %}b", "ab")]
    [InlineData("a  {%- if count -%}  b  {%- endif -%}  c", "abc")]
    public void RendersTheSupportedSubset(string source, string expected)
    {
        Assert.Equal(expected, Render(source));
    }

    [Fact]
    public void DoesNotEncodeForPlainText()
    {
        Assert.Equal("Ann & <Bob>", Render("{{ name }}", html: false));
    }

    [Theory]
    [InlineData("{% for x in list %}{% endfor %}", "line 1", "'for' is not supported")]
    [InlineData("ok\n{% if a %}", "line 2", "endif")]
    [InlineData("{{ name | shout }}", "line 1", "'shout'")]
    [InlineData("\n\n{{ name", "line 3", "never closed")]
    [InlineData("{{ a + b }}", "line 1", "not a variable")]
    [InlineData("{% endif %}", "line 1", "unexpected")]
    public void RefusesAnythingElseNamingTheLine(string source, string line, string problem)
    {
        var e = Assert.Throws<FormatException>(() => LiquidTemplate.Parse(source));
        Assert.Contains(line, e.Message, StringComparison.Ordinal);
        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
    }
}

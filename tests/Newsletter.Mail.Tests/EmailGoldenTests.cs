using Newsletter.Testing;

namespace Newsletter.Mail.Tests;

/// <summary>
/// Every email in templates/email rendered with fixed values and compared byte for byte with a file in
/// Golden/, so a change of engine or of a template shows as a diff someone has to accept. After a deliberate
/// change, regenerate with NEWSLETTER_UPDATE_GOLDEN=1 and read the diff before committing it.
/// </summary>
public class EmailGoldenTests
{
    private static string GoldenFolder => Path.Combine(RepoPaths.Root, "tests", "Newsletter.Mail.Tests", "Golden");

    /// <summary>The documented variables, with a reader whose name tries markup, a quote and a non-ASCII letter.</summary>
    private static Dictionary<string, object?> Model()
    {
        var model = TemplateRendererTests.Model();
        model["subscriber"] = new Dictionary<string, object?> { ["email"] = "zoe@example.org", ["name"] = "Zoë O'Brien <script>alert(1)</script>" };
        model["name"] = "Zoë \"Z\" O'Brien";
        return model;
    }

    public static TheoryData<string> Names() => [.. TemplateRendererTests.Required];

    [Theory]
    [MemberData(nameof(Names))]
    public void EachEmailRendersExactlyAsItsGoldenFile(string name)
    {
        var (subject, html, text) = new TemplateRenderer(TemplateRendererTests.RepoTemplates).Render(name, Model());
        var actual = $"Subject: {subject}\n--- html\n{html}\n--- text\n{text}";
        var path = Path.Combine(GoldenFolder, name + ".golden");
        if (Environment.GetEnvironmentVariable("NEWSLETTER_UPDATE_GOLDEN") == "1")
        {
            Directory.CreateDirectory(GoldenFolder);
            File.WriteAllText(path, actual);
        }

        Assert.Equal(File.ReadAllText(path), actual);
    }
}

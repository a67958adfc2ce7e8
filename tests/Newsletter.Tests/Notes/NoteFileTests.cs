using Newsletter.Web.Notes;

namespace Newsletter.Tests.Notes;

public class NoteFileTests
{
    private const string Valid = """
        ---
        title: "Hello: a note"
        slug: hello-note
        date: 2026-05-01
        tags: [SQLite, Reliability, sqlite]
        status: published
        summary: A short one.
        ---
        Body *here*.
        """;

    [Fact]
    public void ParsesEveryFrontMatterField()
    {
        var note = NoteFile.Parse("hello.md", Valid);
        Assert.Equal("Hello: a note", note.Title);
        Assert.Equal("hello-note", note.Slug);
        Assert.Equal(new DateTime(2026, 5, 1, 0, 0, 0, DateTimeKind.Utc), note.Date);
        Assert.Equal(["sqlite", "reliability"], note.Tags);
        Assert.Equal(NoteStatus.Published, note.Status);
        Assert.Equal("A short one.", note.Summary);
        Assert.Equal("Body *here*.", note.Body.Trim());
    }

    [Fact]
    public void InvalidYamlIsReportedWithTheFileAndLine()
    {
        var bad = "---\ntitle: ok\ntags: [unclosed\nstatus: published\n---\nBody";
        var e = Assert.Throws<NoteFileException>(() => NoteFile.Parse("broken.md", bad));
        Assert.Equal("broken.md", e.File);
        Assert.InRange(e.Line, 3, 5);
        Assert.StartsWith("broken.md:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingFrontMatterIsAClearError()
    {
        var e = Assert.Throws<NoteFileException>(() => NoteFile.Parse("plain.md", "# Just markdown"));
        Assert.Contains("front matter", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingTitleNamesTheField()
    {
        var e = Assert.Throws<NoteFileException>(() => NoteFile.Parse("t.md", "---\nslug: x\n---\nBody"));
        Assert.Contains("'title' is required", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../../etc/passwd")]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData("a\\\\b")]
    [InlineData("Upper-Case")]
    [InlineData("with space")]
    [InlineData("-leading")]
    [InlineData("trailing-")]
    [InlineData("dot.md")]
    public void SlugsThatCouldEscapeAUrlOrFolderAreRejectedWithTheLine(string slug)
    {
        var content = $"---\ntitle: T\nslug: \"{slug}\"\n---\nBody";
        var e = Assert.Throws<NoteFileException>(() => NoteFile.Parse("evil.md", content));
        Assert.Equal(3, e.Line);
    }

    [Fact]
    public void UnknownStatusIsRejected()
    {
        var e = Assert.Throws<NoteFileException>(() => NoteFile.Parse("s.md", "---\ntitle: T\nstatus: maybe\n---\n"));
        Assert.Contains("status 'maybe'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FormatWritesAFileThatParsesBackToTheSameNote()
    {
        // A summary typed over two lines in the admin's text area, with a colon, a tab, a backslash and letters beyond ASCII.
        var note = new Note { Title = "Quote \"me\": yes \\ \u00e9t\u00e9 #1", Slug = "quote-me", Date = new DateTime(2026, 1, 2, 0, 0, 0, DateTimeKind.Utc), Status = NoteStatus.Draft, Summary = "First line.\r\nSecond line: with a colon,\ta tab and \u201cquotes\u201d.", Markdown = "Body\n" };
        note.SetTags(["a", "b"]);
        var parsed = NoteFile.Parse("quote-me.md", NoteFile.Format(note));
        Assert.Equal(note.Title, parsed.Title);
        Assert.Equal(note.Slug, parsed.Slug);
        Assert.Equal(note.Date, parsed.Date);
        Assert.Equal(NoteStatus.Draft, parsed.Status);
        Assert.Equal(["a", "b"], parsed.Tags);
        Assert.Equal("Body\n", parsed.Body);
        Assert.Equal(note.Summary, parsed.Summary);
        Assert.Contains("\u00e9t\u00e9", NoteFile.Format(note), StringComparison.Ordinal);
    }

    [Fact]
    public void BioFrontMatterKeepsItsStructure()
    {
        var bio = """
            ---
            kind: bio
            title: About
            slug: about
            name: Ada
            links:
              - { label: GitHub, url: "https://github.com/ada", kind: github }
            timeline:
              - { title: Start, period: "2001–2005", text: "Began." }
            ---
            Hi.
            """;
        var parsed = NoteFile.Parse("about.md", bio);
        Assert.Equal(NoteKind.Bio, parsed.Kind);
        var profile = Newsletter.Web.Author.BioProfile.Parse(parsed.ProfileJson);
        Assert.Equal("Ada", profile.Name);
        Assert.Equal("https://github.com/ada", Assert.Single(profile.Links).Url);
        Assert.Equal("2001–2005", Assert.Single(profile.Timeline).Period);
    }

    [Fact]
    public void AliasesInFrontMatterAreRefusedBeforeTheyCanExpand()
    {
        // The billion laughs: each line names the one before nine times, so a few hundred bytes become megabytes.
        var laughs = "---\ntitle: Me\nslug: me\nkind: bio\ndate: 2026-05-01\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
            + string.Concat("bcdefg".Select((c, i) => $"{c}: &{c} [*{(char)(c - 1)},*{(char)(c - 1)},*{(char)(c - 1)},*{(char)(c - 1)},*{(char)(c - 1)},*{(char)(c - 1)},*{(char)(c - 1)},*{(char)(c - 1)},*{(char)(c - 1)}]\n"))
            + "---\nBody\n";
        Assert.True(laughs.Length < 600);

        var e = Assert.Throws<NoteFileException>(() => NoteFile.Parse("about.md", laughs));

        Assert.Contains("aliases", e.Message, StringComparison.Ordinal);
        Assert.Equal(7, e.Line);
    }
}

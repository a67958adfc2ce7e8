using Newsletter.Testing;
using Newsletter.Web.Content;

namespace Newsletter.Tests.Content;

/// <summary>The text/plain part of an email, written from the rendered Markdown as a careful person would write it.</summary>
public class EmailTextTests
{
    private const string BaseUrl = "https://notes.example.org";
    private readonly MarkdownRenderer _renderer = new();

    private string Text(string markdown) => EmailText.Of(_renderer.Render(markdown).Html, BaseUrl).Replace("\r\n", "\n", StringComparison.Ordinal);

    /// <summary>Golden/NAME.md as an email's text must be exactly Golden/NAME.txt; UPDATE_GOLDEN=1 rewrites them for review.</summary>
    [Theory]
    [MemberData(nameof(MarkdownRendererTests.GoldenCases), MemberType = typeof(MarkdownRendererTests))]
    public void WritesEmailTextExactlyAsTheGoldenFile(string name)
    {
        var folder = Path.Combine(RepoPaths.Root, "tests", "Newsletter.Tests", "Content", "Golden");
        var actual = Text(File.ReadAllText(Path.Combine(folder, name + ".md")));
        var goldenPath = Path.Combine(folder, name + ".txt");
        if (Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(goldenPath, actual);
        }

        Assert.True(File.Exists(goldenPath), $"{goldenPath} is missing; run with UPDATE_GOLDEN=1 to create it");
        Assert.Equal(File.ReadAllText(goldenPath), actual);
    }

    [Fact]
    public void ParagraphsAreSeparatedByABlankLineAndSoftBreaksJoin()
    {
        Assert.Equal("First paragraph, one line.\n\nSecond paragraph.\n", Text("First paragraph,\none line.\n\nSecond paragraph."));
    }

    [Fact]
    public void AHardBreakStaysALineBreak()
    {
        Assert.Equal("Ada Lovelace\n12 Any Street\n", Text("Ada Lovelace  \n12 Any Street"));
    }

    [Fact]
    public void HeadingsStandOnTheirOwnLines()
    {
        Assert.Equal("The ledger\n==========\n\nA row per reader.\n\nClaims\n------\n\n### Leases\n\nText.\n",
            Text("# The ledger\nA row per reader.\n\n## Claims\n\n### Leases\n\nText."));
    }

    [Fact]
    public void LinksBecomeNumberedReferencesListedUnderTheText()
    {
        var text = Text("In the [SQLite note](/notes/sqlite) I wrote that [WAL](https://sqlite.org/wal.html) helps; see the [note](/notes/sqlite) again.");
        Assert.Equal(
            "In the SQLite note [1] I wrote that WAL [2] helps; see the note [1] again.\n\n[1] https://notes.example.org/notes/sqlite\n[2] https://sqlite.org/wal.html\n",
            text);
    }

    [Theory]
    [InlineData("<https://example.org/a>", "https://example.org/a\n")]
    [InlineData("[https://example.org/a](https://example.org/a)", "https://example.org/a\n")]
    [InlineData("www.example.org", "http://www.example.org\n")]
    [InlineData("[me@example.org](mailto:me@example.org)", "mailto:me@example.org\n")]
    public void ALinkWhoseTextIsItsAddressIsWrittenOnce(string markdown, string expected)
    {
        Assert.Equal(expected, Text(markdown));
    }

    [Fact]
    public void ALinkTheSanitiserEmptiedKeepsItsWords()
    {
        Assert.Equal("the archive\n", Text("[the archive](ftp://files.example.org/archive)"));
    }

    [Fact]
    public void ListsUseDashesAndNumbersAndNestedListsIndent()
    {
        Assert.Equal("- one\n- two\n  - two and a half\n- three\n\n1. first\n2. second\n\n7. seventh\n8. eighth\n",
            Text("- one\n- two\n  - two and a half\n- three\n\n1. first\n2. second\n\ntext\n\n7. seventh\n8. eighth").Replace("text\n\n", "", StringComparison.Ordinal));
    }

    [Fact]
    public void TaskListsShowTheirBoxes()
    {
        Assert.Equal("- [x] Snapshot the recipients\n- [ ] Send the batch\n", Text("- [x] Snapshot the recipients\n- [ ] Send the batch"));
    }

    [Fact]
    public void ANarrowTableIsAlignedUnderAHeaderRule()
    {
        var text = Text("| Setting | Default | Why |\n|:--|--:|:-:|\n| busy_timeout | 10000 | wait, don't fail |\n| journal_mode | WAL | readers |");
        Assert.Equal(
            "Setting       Default  Why\n" +
            "------------  -------  ----------------\n" +
            "busy_timeout    10000  wait, don't fail\n" +
            "journal_mode      WAL  readers\n",
            text);
    }

    [Fact]
    public void ATableTooWideForATextColumnIsWrittenAsLabelsAndValues()
    {
        var text = Text(
            "| Database | What it is good at | What it costs you |\n|--|--|--|\n" +
            "| SQLite | One file, no server to run, fast for one writer at a time | Writers take turns |\n" +
            "| PostgreSQL | Many nodes, many writers, rich SQL | A server to run and back up |");
        Assert.Equal(
            "Database: SQLite\nWhat it is good at: One file, no server to run, fast for one writer at a time\nWhat it costs you: Writers take turns\n\n" +
            "Database: PostgreSQL\nWhat it is good at: Many nodes, many writers, rich SQL\nWhat it costs you: A server to run and back up\n",
            text);
        Assert.All(text.Split('\n'), l => Assert.True(l.Length <= 80, l));
    }

    [Fact]
    public void FootnotesAreNumberedNotesAtTheEndWithoutTheBackLink()
    {
        var text = Text("A claim that needs a source.[^wal] And another.[^two]\n\n[^wal]: See the SQLite documentation on [write-ahead logging](https://sqlite.org/wal.html).\n[^two]: Second note.");
        Assert.Equal(
            "A claim that needs a source.[^1] And another.[^2]\n\n* * *\n\n[^1]: See the SQLite documentation on write-ahead logging [1].\n[^2]: Second note.\n\n[1] https://sqlite.org/wal.html\n",
            text);
        Assert.DoesNotContain("↩", text, StringComparison.Ordinal);
        Assert.DoesNotContain("footnote", text, StringComparison.Ordinal);
    }

    [Fact]
    public void CodeBlocksAreKeptVerbatim()
    {
        var code = "static int Add(int a, int b)\n{\n    return a + b;   // spaces kept\n}\n\n// after a blank line";
        Assert.Equal("Before.\n\n" + code + "\n\nAfter.\n", Text("Before.\n\n```csharp\n" + code + "\n```\n\nAfter."));
    }

    [Fact]
    public void ScriptInACodeBlockIsTextAndRawScriptIsGone()
    {
        Assert.Equal("<script>alert(1)</script>\n", Text("```html\n<script>alert(1)</script>\n```"));
        Assert.Equal("Hello\n", Text("<script>alert(1)</script>\n\nHello"));
    }

    [Fact]
    public void QuotesArePrefixed()
    {
        Assert.Equal("> A system must fail visibly.\n>\n> Never silently.\n\nSaid someone.\n", Text("> A system must fail visibly.\n>\n> Never silently.\n\nSaid someone."));
    }

    [Fact]
    public void ImagesAreTheirAltText()
    {
        Assert.Equal("The ledger, one row per reader\n\nA chart of sends [1]\n\n[1] https://notes.example.org/charts\n",
            Text("![The ledger, one row per reader](/images/ledger.png)\n\n[![A chart of sends](/c.png)](/charts)"));
    }

    [Fact]
    public void DefinitionsAndRulesReadAsText()
    {
        Assert.Equal("Lease\n    A claim on a batch that runs out.\n\n* * *\n\nEnd.\n", Text("Lease\n: A claim on a batch that runs out.\n\n---\n\nEnd."));
    }

    [Fact]
    public void AnIncludedNoteKeepsItsLinkedTitleAsAHeadingWithAReference()
    {
        var html = "<p>Intro.</p>\n<section class=\"included-note\">\n<h2><a href=\"https://notes.example.org/notes/ledger\">The ledger</a></h2>\n<p>The heart of the design.</p>\n</section>";
        Assert.Equal("Intro.\n\nThe ledger [1]\n--------------\n\nThe heart of the design.\n\n[1] https://notes.example.org/notes/ledger\n", EmailText.Of(html, BaseUrl));
    }

    [Fact]
    public void SearchTextEndsHeadingsAsSentencesAndDropsFootnoteBackLinks()
    {
        var rendered = _renderer.Render("## The ledger\n\nThe heart of the design.[^1]\n\n## Why?\n\nBecause.\n\n[^1]: A note.");
        Assert.Contains("The ledger.\nThe heart of the design.1", rendered.PlainText, StringComparison.Ordinal);
        Assert.Contains("Why?\nBecause.", rendered.PlainText, StringComparison.Ordinal);
        Assert.DoesNotContain("↩", rendered.PlainText, StringComparison.Ordinal);
        Assert.StartsWith("The ledger. The heart of the design.", Newsletter.Web.Notes.NoteImporter.Excerpt(rendered.PlainText), StringComparison.Ordinal);
    }

    [Fact]
    public void AnExcerptWithNoSpaceIsCutAtTheLimitBetweenWholeCharacters()
    {
        // 150 emoji are 300 UTF-16 units: a cut at 200 falls between two halves of nothing.
        var emoji = Newsletter.Web.Notes.NoteImporter.Excerpt(string.Concat(Enumerable.Repeat("😀", 150)));
        Assert.Equal(string.Concat(Enumerable.Repeat("😀", 100)) + "…", emoji);
        // A base letter and its combining accent stay together.
        var accents = Newsletter.Web.Notes.NoteImporter.Excerpt(new string('a', 199) + "e\u0301" + new string('b', 50));
        Assert.Equal(new string('a', 199) + "…", accents);
        // With a space in the second half, the cut is still at the last word.
        Assert.Equal(new string('x', 150) + "…", Newsletter.Web.Notes.NoteImporter.Excerpt(new string('x', 150) + " " + new string('y', 100)));
    }
}

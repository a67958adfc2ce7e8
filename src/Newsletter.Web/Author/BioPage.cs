using Newsletter.Web.Content;
using Newsletter.Web.Notes;

namespace Newsletter.Web.Author;

/// <summary>A section ready to render: its heading and anchor resolved, every Markdown field rendered and sanitised.</summary>
public sealed record BioBlock(
    BioSectionKind Kind,
    string? Title,
    string Anchor,
    string Html,
    IReadOnlyList<(BioPhase Phase, string Html)> Phases,
    IReadOnlyList<(BioPrinciple Principle, string Html)> Principles,
    IReadOnlyList<(BioFocus Focus, string Html)> Focus,
    IReadOnlyList<BioLink> Links,
    bool Subscribe);

/// <summary>Turns a bio's front matter into the blocks of its page, in the author's order.</summary>
public static class BioPage
{
    public static IReadOnlyList<BioBlock> Build(BioProfile profile, Note note, MarkdownRenderer markdown)
    {
        string Md(string? text) => string.IsNullOrWhiteSpace(text) ? "" : markdown.Render(text).Html;
        var used = new HashSet<string>(StringComparer.Ordinal) { "subscribe", "main" };
        var blocks = new List<BioBlock>();
        foreach (var section in profile.Ordered())
        {
            if (section.Kind == BioSectionKind.Unknown)
            {
                continue;
            }

            var title = section.Title is { } t ? (t.Trim().Length > 0 ? t.Trim() : null) : section.DefaultTitle;
            var text = section.Text ?? section.Kind switch
            {
                BioSectionKind.Currently => profile.Currently,
                BioSectionKind.Newsletter => profile.Newsletter,
                _ => null,
            };
            var html = section.Kind == BioSectionKind.Body ? (section.Text is null ? note.Html : Md(section.Text)) : Md(text);
            var block = new BioBlock(section.Kind, title, Anchor(section.Id ?? title ?? section.Kind.ToString(), used), html,
                section.Kind == BioSectionKind.Timeline ? [.. section.ItemsAs(profile.Timeline).Select(p => (p, Md(p.Text)))] : [],
                section.Kind == BioSectionKind.Principles ? [.. section.ItemsAs(profile.Principles).Select(p => (p, Md(p.Text)))] : [],
                section.Kind == BioSectionKind.Focus ? [.. section.ItemsAs(profile.Focus).Select(f => (f, Md(f.Text)))] : [],
                section.Kind switch
                {
                    BioSectionKind.Links => [.. section.ItemsAs(profile.Links).Where(l => BioProfile.IsSafeUrl(l.Url))],
                    BioSectionKind.Cta => [.. section.Actions.Where(l => BioProfile.IsSafeUrl(l.Url))],
                    _ => [],
                },
                section.Kind == BioSectionKind.Cta && section.HasSubscribeForm);
            // A section with nothing in it is left out, as the fixed sections always were.
            if (block.Html.Length > 0 || block.Phases.Count > 0 || block.Principles.Count > 0 || block.Focus.Count > 0 || block.Links.Count > 0 || block.Subscribe)
            {
                blocks.Add(block);
            }
        }

        return blocks;
    }

    private static string Anchor(string text, HashSet<string> used)
    {
        var slug = NoteFile.Slugify(text);
        slug = slug.Length == 0 ? "section" : slug;
        var anchor = slug;
        for (var i = 2; !used.Add(anchor); i++)
        {
            anchor = $"{slug}-{i}";
        }

        return anchor;
    }
}

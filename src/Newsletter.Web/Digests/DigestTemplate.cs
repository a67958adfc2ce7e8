using System.Text;
using Microsoft.Extensions.Options;
using Newsletter.Mail;
using Newsletter.Web.Mail;
using Newsletter.Web.Notes;
using Newsletter.Web.Site;

namespace Newsletter.Web.Digests;

/// <summary>Digests:TemplatesFolder and Digests:Template: the Liquid file that writes a digest's Markdown body.</summary>
public sealed class DigestOptions
{
    public string TemplatesFolder { get; set; } = "templates";

    public string Template { get; set; } = "digest.liquid";
}

/// <summary>
/// Writes a digest's body as Markdown from templates/digest.liquid, which the author can edit without a rebuild;
/// the issue's composer then renders and sanitises it like any issue.
/// </summary>
public sealed class DigestTemplate(TemplateRenderer renderer, DigestOptions options, IOptions<SiteOptions> site)
{
    public string Render(Digest digest, IReadOnlyList<Note> notes, DateTime occurrenceUtc)
    {
        var model = TemplateModel.Base(site.Value);
        model["digest"] = new Dictionary<string, object?> { ["name"] = digest.Name, ["topic"] = digest.Topic };
        model["intro"] = digest.Intro;
        model["full_text"] = digest.FullText;
        model["date"] = occurrenceUtc;
        model["notes"] = notes.Select(n =>
        {
            var url = site.Value.Absolute($"/notes/{n.Slug}");
            return (object?)new Dictionary<string, object?>
            {
                ["title"] = n.Title,
                ["url"] = url,
                ["link"] = $"[{EscapeMarkdown(n.Title)}]({url})",
                ["summary"] = n.Summary,
                ["markdown"] = n.Markdown,
                ["date"] = n.Date,
                ["tags"] = n.TagNames.Cast<object?>().ToList(),
                ["reading_minutes"] = n.ReadingMinutes,
            };
        }).ToList();
        return renderer.RenderFile(options.Template, model);
    }

    /// <summary>A title is text: brackets or stars in it must not turn into a link or emphasis.</summary>
    public static string EscapeMarkdown(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var c in text.Where(c => !Infrastructure.OneLine.IsBreak(c)))
        {
            if (@"\`*_[]<>#!|".Contains(c, StringComparison.Ordinal))
            {
                sb.Append('\\');
            }

            sb.Append(c);
        }

        return sb.ToString();
    }
}

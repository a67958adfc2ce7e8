using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Newsletter.Web.Notes;

/// <summary>A Markdown file with YAML front matter, parsed but not yet stored.</summary>
public sealed record NoteFile(
    string RelativePath,
    string Slug,
    string Title,
    NoteKind Kind,
    NoteStatus Status,
    DateTime Date,
    IReadOnlyList<string> Tags,
    string Summary,
    string Body,
    string? ProfileJson,
    string ContentHash)
{
    /// <summary>Slugs become URLs and file names, so they are a closed alphabet: no dots, no slashes.</summary>
    public static bool IsValidSlug(string slug) =>
        slug.Length is > 0 and <= 120 && slug.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-')
        && !slug.StartsWith('-') && !slug.EndsWith('-');

    public static string Slugify(string text)
    {
        var normalized = text.Normalize(NormalizationForm.FormD);
        var sb = new StringBuilder();
        foreach (var c in normalized)
        {
            if (CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.NonSpacingMark)
            {
                continue;
            }

            sb.Append(char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '-');
        }

        var slug = string.Join('-', sb.ToString().Split('-', StringSplitOptions.RemoveEmptyEntries));
        return slug.Length > 80 ? slug[..80].TrimEnd('-') : slug;
    }

    public static string Hash(string content) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(content)));

    /// <summary>Parses a note file. Errors name the file and the line so the author can fix them.</summary>
    public static NoteFile Parse(string relativePath, string content)
    {
        content = content.Replace("\r\n", "\n", StringComparison.Ordinal).TrimStart('\uFEFF');
        if (!content.StartsWith("---\n", StringComparison.Ordinal))
        {
            throw new NoteFileException(relativePath, 1, "the file must start with a '---' line that opens the YAML front matter");
        }

        var end = content.IndexOf("\n---", 3, StringComparison.Ordinal);
        if (end < 0)
        {
            throw new NoteFileException(relativePath, 1, "the front matter is not closed by a '---' line");
        }

        var yaml = content[4..(end + 1)];
        var bodyStart = content.IndexOf('\n', end + 4);
        var body = bodyStart < 0 ? "" : content[(bodyStart + 1)..];

        YamlMappingNode root;
        var parser = new PositionTrackingParser(new Parser(new StringReader(yaml)));
        try
        {
            var stream = new YamlStream();
            stream.Load(parser);
            root = stream.Documents.Count > 0 && stream.Documents[0].RootNode is YamlMappingNode m
                ? m
                : throw new NoteFileException(relativePath, 2, "the front matter must be a set of 'key: value' lines");
        }
        catch (YamlException e)
        {
            // +1 for the opening '---' line, so the number matches what the author sees in an editor.
            throw new NoteFileException(relativePath, (int)e.Start.Line + 1, "invalid YAML: " + e.Message);
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet's scanner gives up without a position on some unclosed constructs ("[a, b"):
            // the last event it parsed is where the author should look.
            throw new NoteFileException(relativePath, (int)parser.LastLine + 1, "invalid YAML: an unclosed [ or { or quote starts here");
        }

        string? Scalar(string key) =>
            root.Children.TryGetValue(new YamlScalarNode(key), out var node) && node is YamlScalarNode s ? s.Value : null;
        int LineOf(string key) =>
            root.Children.Keys.OfType<YamlScalarNode>().FirstOrDefault(k => k.Value == key) is { } k ? (int)k.Start.Line + 1 : 2;

        var title = Scalar("title")?.Trim();
        if (string.IsNullOrEmpty(title))
        {
            throw new NoteFileException(relativePath, 2, "'title' is required");
        }

        var slug = Scalar("slug")?.Trim() ?? Slugify(Path.GetFileNameWithoutExtension(relativePath));
        if (!IsValidSlug(slug))
        {
            throw new NoteFileException(relativePath, LineOf("slug"), $"slug '{slug}' may only hold a-z, 0-9 and inner hyphens");
        }

        var kind = (Scalar("kind") ?? "note").Trim().ToLowerInvariant() switch
        {
            "note" => NoteKind.Note,
            "bio" => NoteKind.Bio,
            var other => throw new NoteFileException(relativePath, LineOf("kind"), $"kind '{other}' is not 'note' or 'bio'"),
        };

        var status = (Scalar("status") ?? (Scalar("draft") is "true" ? "draft" : "published")).Trim().ToLowerInvariant() switch
        {
            "published" => NoteStatus.Published,
            "draft" => NoteStatus.Draft,
            var other => throw new NoteFileException(relativePath, LineOf("status"), $"status '{other}' is not 'draft' or 'published'"),
        };

        var dateText = Scalar("date");
        var date = DateTime.UtcNow.Date;
        if (dateText is not null && !DateTime.TryParse(dateText, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out date))
        {
            throw new NoteFileException(relativePath, LineOf("date"), $"date '{dateText}' is not a date (use YYYY-MM-DD)");
        }

        var tags = new List<string>();
        if (root.Children.TryGetValue(new YamlScalarNode("tags"), out var tagNode))
        {
            tags = tagNode switch
            {
                YamlSequenceNode seq => seq.Children.OfType<YamlScalarNode>().Select(t => t.Value ?? "").ToList(),
                YamlScalarNode s => [.. Notes.Tags.Parse(s.Value)],
                _ => throw new NoteFileException(relativePath, LineOf("tags"), "tags must be a list"),
            };
        }

        string? profile = null;
        if (kind == NoteKind.Bio)
        {
            profile = JsonSerializer.Serialize(ToPlain(root));
            // Checked here, so a misshapen bio stops the import with the file and line instead of breaking /about.
            try
            {
                var bio = Author.BioProfile.Parse(profile);
                foreach (var section in bio.Sections)
                {
                    _ = section.Kind switch
                    {
                        Author.BioSectionKind.Timeline => section.ItemsAs(bio.Timeline).Count,
                        Author.BioSectionKind.Principles => section.ItemsAs(bio.Principles).Count,
                        Author.BioSectionKind.Focus => section.ItemsAs(bio.Focus).Count,
                        Author.BioSectionKind.Links => section.ItemsAs(bio.Links).Count,
                        _ => 0,
                    };
                }
            }
            catch (JsonException e)
            {
                var key = e.Path?.TrimStart('$', '.').Split('.', '[')[0] is { Length: > 0 } k ? k : "sections";
                throw new NoteFileException(relativePath, LineOf(key), $"the bio's '{key}' is not in the expected shape: {e.Message}");
            }
        }

        return new NoteFile(relativePath, slug, title, kind, status, DateTime.SpecifyKind(date, DateTimeKind.Utc),
            [.. tags.Select(Notes.Tags.Normalize).Where(t => t.Length > 0).Distinct()], Scalar("summary")?.Trim() ?? "", body, profile, Hash(content));
    }

    private static object? ToPlain(YamlNode node) => node switch
    {
        YamlScalarNode s => s.Value,
        YamlSequenceNode seq => seq.Children.Select(ToPlain).ToList(),
        YamlMappingNode map => map.Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value ?? "", kv => ToPlain(kv.Value)),
        _ => null,
    };

    private static readonly System.Text.Json.JsonSerializerOptions QuoteOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Writes an admin-written note as a file that Parse reads back to the same note.</summary>
    public static string Format(Note note)
    {
        // A JSON string is a YAML double-quoted scalar: line breaks, tabs and control characters become escapes
        // (a summary typed over two lines was written with a raw line break, which YAML refused on the next import,
        // and the note was then stuck owned by a file it could not read). Other letters stay as they are.
        static string Quote(string s) => System.Text.Json.JsonSerializer.Serialize(s, QuoteOptions);
        var sb = new StringBuilder();
        sb.Append("---\n");
        sb.Append("title: ").Append(Quote(note.Title)).Append('\n');
        sb.Append("slug: ").Append(note.Slug).Append('\n');
        sb.Append("date: ").Append(note.Date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)).Append('\n');
        sb.Append("tags: [").Append(string.Join(", ", note.TagNames)).Append("]\n");
        sb.Append("status: ").Append(note.Status == NoteStatus.Published ? "published" : "draft").Append('\n');
        sb.Append("summary: ").Append(Quote(note.Summary)).Append('\n');
        sb.Append("---\n");
        sb.Append(note.Markdown.Replace("\r\n", "\n", StringComparison.Ordinal));
        if (!note.Markdown.EndsWith('\n'))
        {
            sb.Append('\n');
        }

        return sb.ToString();
    }
}

internal sealed class PositionTrackingParser(IParser inner) : IParser
{
    public long LastLine { get; private set; } = 1;

    public YamlDotNet.Core.Events.ParsingEvent? Current => inner.Current;

    public bool MoveNext()
    {
        var moved = inner.MoveNext();
        if (inner.Current is { } current)
        {
            LastLine = current.Start.Line;
            // An alias repeats what its anchor holds, and aliases of aliases multiply: a 400-byte file became
            // 33 MB of stored profile. Front matter is a handful of fields; nobody needs them.
            if (current is YamlDotNet.Core.Events.AnchorAlias)
            {
                throw new YamlException(current.Start, current.End, "aliases (*name) are not allowed in front matter: write the value out instead");
            }
        }

        return moved;
    }
}

public sealed class NoteFileException(string file, int line, string problem)
    : Exception($"{file}:{line}: {problem}")
{
    public string File { get; } = file;

    public int Line { get; } = line;
}

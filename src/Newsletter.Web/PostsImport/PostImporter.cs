using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using AngleSharp.Html.Parser;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Web.Content;
using Newsletter.Web.Data;
using Newsletter.Web.Images;
using Newsletter.Web.Infrastructure;
using Newsletter.Web.Issues;
using Newsletter.Web.Notes;
using Newsletter.Web.Site;

namespace Newsletter.Web.PostsImport;

/// <summary>What imported posts become: sent issues in the archive, or notes (Markdown files in notes/).</summary>
public enum PostTarget
{
    Issues = 0,
    Notes = 1,
}

public enum PlannedAction
{
    Create,

    /// <summary>The slug is taken by something else: the post gets the slug with a "-2" (or "-3"...) suffix.</summary>
    CreateRenamed,

    /// <summary>A post with this title and date is already here (an earlier run of the same import): skipped.</summary>
    AlreadyImported,
}

public sealed record PlannedPost(ImportedPost Post, string Slug, PlannedAction Action, int? Number)
{
    /// <summary>The post's day where the author is (Site:TimeZone): a note's date, and the day the plan lists.</summary>
    public DateTime Day { get; init; }

    public string Explanation => Action switch
    {
        PlannedAction.AlreadyImported => $"already imported, as '{Slug}'; skipped",
        PlannedAction.CreateRenamed => $"slug '{Post.Slug}' is taken: imported as '{Slug}'",
        _ => "new",
    };
}

public sealed record ImportPlan(string Platform, PostTarget Target, IReadOnlyList<PlannedPost> Posts, IReadOnlyList<string> Problems)
{
    public int ToCreate => Posts.Count(p => p.Action != PlannedAction.AlreadyImported);
}

public sealed record PostImportResult(int Created, int Skipped, int ImagesStored, IReadOnlyList<string> Problems)
{
    public override string ToString() => $"{Created} imported, {Skipped} already there, {ImagesStored} images stored, {Problems.Count} problems";
}

/// <summary>
/// Brings posts from another platform in, after the author has seen the plan: each post keeps its title, date
/// and slug (a slug already taken gets a numeric suffix, and the plan says so), its HTML becomes Markdown, and
/// its images are copied into the image store. Re-running the same import adds nothing: a post whose title and
/// date are already here is skipped.
/// </summary>
public sealed class PostImporter(
    AppDbContext db,
    IssueComposer composer,
    NoteImporter noteImporter,
    ContentChanges changes,
    AppPaths paths,
    ImageStore images,
    SafeDownloader downloader,
    IOptions<PostImportOptions> options,
    IOptions<ImageOptions> imageOptions,
    IOptions<SiteOptions> site,
    TimeProvider clock,
    ILogger<PostImporter> logger)
{
    public async Task<ImportPlan> PlanAsync(PostSource source, PostTarget target, CancellationToken ct)
    {
        var taken = new HashSet<string>(StringComparer.Ordinal);
        HashSet<(string Title, DateTime Date)> present;
        var numbered = false;
        if (target == PostTarget.Issues)
        {
            var issues = await db.Issues.AsNoTracking().Select(i => new { i.Slug, i.Subject, i.PublishedAt, i.Number }).ToListAsync(ct);
            taken.UnionWith(issues.Select(i => i.Slug));
            present = [.. issues.Where(i => i.PublishedAt is not null).Select(i => (i.Subject, Second(i.PublishedAt!.Value)))];
            numbered = issues.Any(i => i.Number is not null);
        }
        else
        {
            var notes = await db.Notes.AsNoTracking().Select(n => new { n.Slug, n.Title, n.Date }).ToListAsync(ct);
            taken.UnionWith(notes.Select(n => n.Slug));
            if (Directory.Exists(paths.NotesFolder))
            {
                taken.UnionWith(Directory.EnumerateFiles(paths.NotesFolder, "*.md", SearchOption.AllDirectories).Select(Path.GetFileNameWithoutExtension).OfType<string>());
            }

            present = [.. notes.Select(n => (n.Title, n.Date.Date))];
        }

        var planned = new List<PlannedPost>();
        // The same post listed twice in one file is one post; posts that only share a title and a day (untitled
        // micro-posts, two "Weekly notes") are not: they were reported "already imported" on a site without them.
        var inFile = new HashSet<(string Title, DateTime Day, string Slug, string Html)>();
        foreach (var post in source.Posts.OrderBy(p => p.Date))
        {
            var title = Clip(post.Title.Trim() is { Length: > 0 } t ? t : "Untitled", 300);
            var wanted = NoteFile.IsValidSlug(post.Slug) ? post.Slug : NoteFile.Slugify(post.Slug.Length > 0 ? post.Slug : title);
            if (wanted.Length == 0)
            {
                wanted = "post-" + post.Date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
            }

            // A note is dated by the author's day, as one written here is: a post from 00:30 in Berlin on 1 January
            // was a note of 31 December while the same post imported as an issue said 1 January.
            var day = TimeZoneInfo.ConvertTimeFromUtc(DateTime.SpecifyKind(post.Date, DateTimeKind.Utc), site.Value.Zone).Date;
            var key = (title, target == PostTarget.Issues ? Second(post.Date) : day);
            if (present.Contains(key) || !inFile.Add((title, key.Item2, post.Slug, post.Html)))
            {
                planned.Add(new PlannedPost(post with { Title = title }, wanted, PlannedAction.AlreadyImported, null) { Day = day });
                continue;
            }

            var slug = wanted;
            for (var n = 2; taken.Contains(slug); n++)
            {
                slug = $"{(wanted.Length > 110 ? wanted[..110] : wanted)}-{n}";
            }

            taken.Add(slug);
            planned.Add(new PlannedPost(post with { Title = title, Slug = wanted }, slug, slug == wanted ? PlannedAction.Create : PlannedAction.CreateRenamed, null) { Day = day });
        }

        // Numbers only where they can't be wrong: a site with no numbered issue yet takes the old numbering in date
        // order, and its next issue follows on. Into a site that already numbers its issues, imported ones come
        // unnumbered rather than renumbering what readers already know.
        if (target == PostTarget.Issues && !numbered)
        {
            var next = 1;
            planned = [.. planned.Select(p => p.Action == PlannedAction.AlreadyImported ? p : p with { Number = next++ })];
        }

        return new ImportPlan(source.Platform, target, planned, source.Problems);
    }

    /// <summary>
    /// Why posts can't be imported as <paramref name="target"/> here, or null. Notes are files in notes/, which a
    /// service may not be allowed to write (the systemd unit's ReadWritePaths): said before anything is written.
    /// </summary>
    public string? CannotWrite(PostTarget target)
    {
        if (target != PostTarget.Notes)
        {
            return null;
        }

        var probe = Path.Combine(paths.NotesFolder, $".write-test-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(paths.NotesFolder);
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"The app can't write notes into {paths.NotesFolder} ({e.Message}). Give the app's user write access there (with the README's systemd unit, it is in ReadWritePaths), or import as issues.";
        }
    }

    public async Task<PostImportResult> CommitAsync(ImportPlan plan, string importedBy, CancellationToken ct)
    {
        if (CannotWrite(plan.Target) is { } refused)
        {
            throw new PostImportException(refused);
        }

        var problems = new List<string>(plan.Problems);
        var stored = new Dictionary<string, string>(StringComparer.Ordinal);
        var budget = new ImageBudget(options.Value.MaxImages);
        int created = 0, skipped = 0;
        var now = clock.GetUtcNow().UtcDateTime;
        foreach (var item in plan.Posts)
        {
            if (item.Action == PlannedAction.AlreadyImported)
            {
                skipped++;
                continue;
            }

            var html = await CopyImagesAsync(item.Post, stored, budget, importedBy, problems, ct);
            var markdown = HtmlToMarkdown.Convert(html);
            if (plan.Target == PostTarget.Issues)
            {
                var issue = new Issue
                {
                    Slug = item.Slug,
                    Number = item.Number,
                    Subject = item.Post.Title,
                    Summary = Clip(item.Post.Summary, 1000),
                    Markdown = markdown,
                    Status = IssueStatus.Sent,
                    PublishedAt = item.Post.Date,
                    StartedAt = item.Post.Date,
                    CompletedAt = item.Post.Date,
                    CreatedAt = now,
                    UpdatedAt = now,
                };
                foreach (var tag in item.Post.Tags.Select(Notes.Tags.Normalize).Where(t => t.Length > 0).Distinct(StringComparer.Ordinal))
                {
                    issue.Tags.Add(new IssueTag { Tag = tag });
                }

                await composer.ComposeAsync(issue, ct);
                db.Issues.Add(issue);
                await db.SaveChangesAsync(ct);
            }
            else
            {
                Directory.CreateDirectory(paths.NotesFolder);
                var file = Path.Combine(paths.NotesFolder, item.Slug + ".md");
                // CreateNew: a file that appeared since the plan is never overwritten.
                await using var stream = new FileStream(file, FileMode.CreateNew, FileAccess.Write);
                await using var writer = new StreamWriter(stream, new UTF8Encoding(false));
                await writer.WriteAsync(NoteText(item, markdown));
            }

            created++;
        }

        if (plan.Target == PostTarget.Issues)
        {
            await changes.IssuesChangedAsync(ct);
        }
        else
        {
            var result = await noteImporter.ImportAsync(ct);
            problems.AddRange(result.Errors);
        }

        logger.LogInformation("Imported {Created} posts from {Platform} as {Target}; {Skipped} already there", created, plan.Platform, plan.Target, skipped);
        return new PostImportResult(created, skipped, stored.Count, problems);
    }

    /// <summary>Each http(s) image is fetched (bounded), stored under its content hash, and the post points at the stored copy.</summary>
    private async Task<string> CopyImagesAsync(ImportedPost post, Dictionary<string, string> stored, ImageBudget budget, string importedBy, List<string> problems, CancellationToken ct)
    {
        var document = new HtmlParser().ParseDocument("<body>" + post.Html + "</body>");
        var changed = false;
        foreach (var img in document.QuerySelectorAll("img"))
        {
            var src = HtmlToMarkdown.SafeUrl(img.GetAttribute("src"));
            if (src is null || !src.StartsWith("http", StringComparison.Ordinal))
            {
                continue;
            }

            if (!stored.TryGetValue(src, out var local))
            {
                if (!budget.Take())
                {
                    problems.Add($"“{post.Title}”: more than {options.Value.MaxImages} images in this import (PostImport:MaxImages); {src} keeps its original address");
                    continue;
                }

                try
                {
                    var bytes = await downloader.GetAsync(src, imageOptions.Value.MaxUploadBytes, ct);
                    local = stored[src] = (await images.SaveAsync(bytes, importedBy, ct)).Path;
                }
                catch (Exception e) when (e is DownloadRefusedException or ImageRejectedException)
                {
                    // One missing picture is no reason to lose the post: it keeps the original address, and the author hears why.
                    problems.Add($"“{post.Title}”: image not copied ({e.Message}); it keeps its original address");
                    continue;
                }
            }

            img.SetAttribute("src", local);
            img.RemoveAttribute("srcset");
            changed = true;
        }

        return changed ? document.Body!.InnerHtml : post.Html;
    }

    private static string NoteText(PlannedPost item, string markdown)
    {
        var json = new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        // JSON strings are YAML double-quoted scalars, so any title or summary is safe in the front matter.
        string Quote(string s) => JsonSerializer.Serialize(s.Replace('\r', ' ').Replace('\n', ' '), json);
        var sb = new StringBuilder("---\n");
        sb.Append("title: ").Append(Quote(item.Post.Title)).Append('\n');
        sb.Append("slug: ").Append(item.Slug).Append('\n');
        sb.Append("date: ").Append(item.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)).Append('\n');
        var tags = item.Post.Tags.Select(Notes.Tags.Normalize).Where(t => t.Length > 0).Distinct(StringComparer.Ordinal).ToList();
        if (tags.Count > 0)
        {
            sb.Append("tags: [").Append(string.Join(", ", tags)).Append("]\n");
        }

        sb.Append("status: published\n");
        if (item.Post.Summary.Trim().Length > 0)
        {
            sb.Append("summary: ").Append(Quote(Clip(item.Post.Summary.Trim(), 1000))).Append('\n');
        }

        return sb.Append("---\n\n").Append(markdown).ToString();
    }

    private static DateTime Second(DateTime d) => new(d.Ticks - (d.Ticks % TimeSpan.TicksPerSecond), DateTimeKind.Utc);

    private static string Clip(string s, int max) => s.Length > max ? s[..max] : s;

    private sealed class ImageBudget(int max)
    {
        private int _used;

        public bool Take() => _used++ < max;
    }
}

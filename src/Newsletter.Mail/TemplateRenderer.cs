using System.Collections.Concurrent;

namespace Newsletter.Mail;

/// <summary>A rendered email: subject, HTML and text.</summary>
public sealed record RenderedTemplate(string Subject, string Html, string Text);

/// <summary>A template that is missing, does not parse, or renders nothing.</summary>
public sealed class TemplateException(string message) : Exception(message);

/// <summary>
/// Liquid templates from a folder (templates/email), rendered by <see cref="LiquidTemplate"/>. Each email
/// NAME is three files: NAME.subject.liquid, NAME.html.liquid and NAME.text.liquid (separate files rather
/// than front matter, so each is plain Liquid an editor highlights). The HTML and text bodies are wrapped in
/// _layout.html.liquid and _layout.text.liquid when those exist, which receive the body as
/// <c>content</c> plus <c>subject</c> and every model variable. Files are re-read when they change, so an
/// author can edit a template without a rebuild. A missing or broken template is an error at start-up
/// (<see cref="ValidateAll"/>), and a template that renders empty is an error at send time: never a blank
/// email. Each template lists the variables it uses in a comment at its top.
/// </summary>
/// <remarks>
/// Fluid was the intended engine, but the package registry this project builds from holds Fluid.Core
/// 2.41.1 only with Parlot 2.2.1, while Fluid.Core 2.41.1 is built against Parlot 1.5.x: the pair fails at
/// run time with MissingMethodException. <see cref="LiquidTemplate"/> implements the subset the templates
/// need and refuses everything else at parse time.
/// </remarks>
public sealed class TemplateRenderer
{
    private readonly string _folder;
    private readonly ConcurrentDictionary<string, (DateTime Modified, long Length, LiquidTemplate Template)> _cache = new();

    /// <summary>Reads templates from <paramref name="folder"/>.</summary>
    public TemplateRenderer(string folder)
    {
        _folder = folder;
    }

    /// <summary>The folder templates are read from.</summary>
    public string Folder => _folder;

    /// <summary>Checks that every named email has its three files and that they (and the layouts) parse.</summary>
    /// <exception cref="TemplateException">Names every missing or broken file, with the parse error and its line.</exception>
    public void ValidateAll(IEnumerable<string> names)
    {
        var problems = new List<string>();
        foreach (var name in names)
        {
            foreach (var part in new[] { "subject", "html", "text" })
            {
                try
                {
                    Load($"{name}.{part}.liquid", required: true);
                }
                catch (TemplateException e)
                {
                    problems.Add(e.Message);
                }
            }
        }

        foreach (var layout in new[] { "_layout.html.liquid", "_layout.text.liquid" })
        {
            try
            {
                Load(layout, required: false);
            }
            catch (TemplateException e)
            {
                problems.Add(e.Message);
            }
        }

        if (problems.Count > 0)
        {
            throw new TemplateException("Email templates are not usable:\n" + string.Join('\n', problems));
        }
    }

    /// <summary>
    /// Renders email <paramref name="name"/> with <paramref name="model"/>'s values as top-level variables
    /// (plain values, nested dictionaries for <c>site.title</c>-style paths, <see cref="RawHtml"/> for HTML
    /// that must not be escaped). The subject is one line: line breaks a template produces are folded to spaces.
    /// </summary>
    /// <exception cref="TemplateException">A file is missing or broken, or a part renders empty: never a blank email.</exception>
    public RenderedTemplate Render(string name, IDictionary<string, object?> model)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(model);
        var subject = string.Join(' ', RenderPart($"{name}.subject.liquid", model, html: false).Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        var html = RenderPart($"{name}.html.liquid", model, html: true);
        var text = RenderPart($"{name}.text.liquid", model, html: false);

        // Checked before the layout wraps them: a layout always has text of its own, an empty body inside it is still a blank email.
        var empty = subject.Length == 0 ? "subject" : string.IsNullOrWhiteSpace(html) ? "HTML body" : string.IsNullOrWhiteSpace(text) ? "text body" : null;
        if (empty is not null)
        {
            throw new TemplateException($"Template '{name}' in {_folder} rendered an empty {empty}; refusing to send a blank email.");
        }

        html = Wrap("_layout.html.liquid", html.Trim(), subject, model, html: true);
        text = Wrap("_layout.text.liquid", text.Trim(), subject, model, html: false);
        return new RenderedTemplate(subject, html, text.Trim() + "\n");
    }

    private string Wrap(string layout, string content, string subject, IDictionary<string, object?> model, bool html)
    {
        if (Load(layout, required: false) is not { } template)
        {
            return content;
        }

        var wrapped = new Dictionary<string, object?>(model)
        {
            ["content"] = new RawHtml(content),
            ["subject"] = subject,
        };
        return template.Render(wrapped, html);
    }

    private string RenderPart(string file, IDictionary<string, object?> model, bool html) =>
        Load(file, required: true)!.Render(model, html);

    private LiquidTemplate? Load(string file, bool required)
    {
        var path = Path.Combine(_folder, file);
        if (!File.Exists(path))
        {
            return required ? throw new TemplateException($"{path} is missing.") : null;
        }

        // Checked on every render (one stat per file): an author's edit shows in the next email, no restart,
        // and unlike a FileSystemWatcher it can't miss an event on a network or container volume.
        var info = new FileInfo(path);
        if (_cache.TryGetValue(file, out var cached) && cached.Modified == info.LastWriteTimeUtc && cached.Length == info.Length)
        {
            return cached.Template;
        }

        LiquidTemplate template;
        try
        {
            template = LiquidTemplate.Parse(File.ReadAllText(path));
        }
        catch (FormatException e)
        {
            throw new TemplateException($"{path} does not parse: {e.Message}");
        }

        _cache[file] = (info.LastWriteTimeUtc, info.Length, template);
        return template;
    }
}

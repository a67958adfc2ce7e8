using System.Collections.Concurrent;
using Fluid;

namespace Newsletter.Mail;

/// <summary>A rendered email: subject, HTML and text.</summary>
public sealed record RenderedTemplate(string Subject, string Html, string Text);

/// <summary>A template that is missing, does not parse, renders nothing, or was stopped by a limit.</summary>
public sealed class TemplateException(string message) : Exception(message);

/// <summary>
/// Liquid templates from a folder (templates/email), rendered by Fluid. Each email NAME is three files:
/// NAME.subject.liquid, NAME.html.liquid and NAME.text.liquid (separate files rather than front matter, so each
/// is plain Liquid an editor highlights). The HTML and text bodies are wrapped in _layout.html.liquid and
/// _layout.text.liquid when those exist, which receive the body as <c>content</c> plus <c>subject</c> and every
/// model variable. Any other .liquid file in the folder is a partial for <c>{% include %}</c> and
/// <c>{% render %}</c>; nothing outside the folder can be included. Files are re-read when they change, partials
/// too, so an author can edit a template without a rebuild. A missing or broken template is an error at
/// start-up (<see cref="ValidateAll"/>), and a template that renders empty or runs past a limit is an error at
/// send time: never a blank email. Each template lists the variables it uses in a comment at its top.
/// </summary>
public sealed class TemplateRenderer
{
    private readonly string _folder;
    private readonly ConcurrentDictionary<string, (DateTime Modified, long Length, IFluidTemplate Template)> _cache = new();

    // Made on first use, when the folder is known to exist (Fluid's file provider needs it); not cached on failure.
    private readonly Lazy<LiquidEngine> _engine;

    /// <summary>Reads templates from <paramref name="folder"/>; dates show in UTC.</summary>
    public TemplateRenderer(string folder)
        : this(folder, TimeZoneInfo.Utc, TimeProvider.System)
    {
    }

    /// <summary>Reads templates from <paramref name="folder"/>; dates, and the date filter's "now", show in <paramref name="timeZone"/>.</summary>
    public TemplateRenderer(string folder, TimeZoneInfo timeZone, TimeProvider clock)
    {
        ArgumentNullException.ThrowIfNull(timeZone);
        ArgumentNullException.ThrowIfNull(clock);
        _folder = folder;
        _engine = new(() => new LiquidEngine(folder, timeZone, clock, new IncludeCache(this)), LazyThreadSafetyMode.PublicationOnly);
    }

    /// <summary>The folder templates are read from.</summary>
    public string Folder => _folder;

    /// <summary>
    /// Checks that every named email has its three files and that they, the layouts and every partial in the
    /// folder parse, use only filters that exist and include only templates in the folder.
    /// </summary>
    /// <exception cref="TemplateException">Names every missing or broken file, with the problem and its line.</exception>
    public void ValidateAll(IEnumerable<string> names)
    {
        var problems = new List<string>();
        var required = names.SelectMany(name => new[] { $"{name}.subject.liquid", $"{name}.html.liquid", $"{name}.text.liquid" }).ToList();
        IEnumerable<string> others = Directory.Exists(_folder)
            ? Directory.GetFiles(_folder, "*.liquid").Select(Path.GetFileName).OfType<string>().Except(required, StringComparer.Ordinal).Order(StringComparer.Ordinal)
            : [];
        foreach (var (file, isRequired) in required.Select(f => (f, true)).Concat(others.Select(f => (f, false))))
        {
            try
            {
                Load(file, isRequired);
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
    /// (plain values, nested dictionaries for <c>site.title</c>-style paths, lists for <c>{% for %}</c>, UTC
    /// <see cref="DateTime"/>s for the date filter, <see cref="RawHtml"/> for HTML that must not be escaped).
    /// The subject is one line: line breaks a template produces are folded to spaces.
    /// </summary>
    /// <exception cref="TemplateException">A file is missing or broken, a part renders empty (never a blank email), or a limit stopped it.</exception>
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

    /// <summary>
    /// Renders one file of the folder as plain text (nothing HTML-encoded, no layout), for a template that writes
    /// Markdown rather than an email: a digest's body, for one.
    /// </summary>
    /// <exception cref="TemplateException">The file is missing, does not parse (with its line), renders empty, or a limit stopped it.</exception>
    public string RenderFile(string file, IDictionary<string, object?> model)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(file);
        ArgumentNullException.ThrowIfNull(model);
        var text = RenderPart(file, model, html: false);
        return string.IsNullOrWhiteSpace(text) ? throw new TemplateException($"{Path.Combine(_folder, file)} rendered nothing.") : text;
    }

    private string Wrap(string layout, string content, string subject, IDictionary<string, object?> model, bool html)
    {
        if (Load(layout, required: false) is null)
        {
            return content;
        }

        var wrapped = new Dictionary<string, object?>(model)
        {
            ["content"] = new RawHtml(content),
            ["subject"] = subject,
        };
        return RenderPart(layout, wrapped, html);
    }

    private string RenderPart(string file, IDictionary<string, object?> model, bool html)
    {
        var template = Load(file, required: true)!;
        try
        {
            return _engine.Value.Render(template, model, html);
        }
        catch (Exception e) when (e is not (TemplateException or OutOfMemoryException))
        {
            // Whatever stopped it (a limit, a missing partial, a filter's error), the send fails with the file's name.
            throw new TemplateException($"{Path.Combine(_folder, file)} could not be rendered: {Why(e)}");
        }
    }

    private static string Why(Exception e) => e switch
    {
        LiquidLimitException => "stopped: " + e.Message,
        // Fluid says "maximum level of recursion" for both of its limits.
        InvalidOperationException when e.Message.Contains("maximum", StringComparison.OrdinalIgnoreCase) =>
            $"stopped: it ran more than {LiquidEngine.MaxSteps:N0} steps or nested more than {LiquidEngine.MaxRecursion} deep (a loop that doesn't end, or a template that includes itself)",
        FileNotFoundException => $"'{e.Message}' is not a template in this folder",
        _ => e.Message,
    };

    private IFluidTemplate? Load(string file, bool required)
    {
        // Checked on every render (one stat per file): an author's edit shows in the next email, no restart,
        // and unlike a FileSystemWatcher it can't miss an event on a network or container volume.
        var path = Path.Combine(_folder, file);
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            return required ? throw new TemplateException($"{path} is missing.") : null;
        }

        if (_cache.TryGetValue(file, out var cached) && cached.Modified == info.LastWriteTimeUtc && cached.Length == info.Length)
        {
            return cached.Template;
        }

        IFluidTemplate template;
        try
        {
            template = _engine.Value.Parse(File.ReadAllText(path));
        }
        catch (FormatException e)
        {
            throw new TemplateException($"{path} does not parse: {e.Message}");
        }

        _cache[file] = (info.LastWriteTimeUtc, info.Length, template);
        return template;
    }

    // FLUID001: ITemplateCache is marked "for evaluation". Fluid's version is pinned in Directory.Packages.props,
    // and a change to the interface breaks this build rather than a send.
#pragma warning disable FLUID001
    /// <summary>
    /// Fluid's cache for included templates, reading through <see cref="Load"/>: a partial is parsed, checked,
    /// limited and reloaded on change exactly like an email's own files. Fluid has already found the file
    /// through its provider, inside the folder, before it asks here.
    /// </summary>
    private sealed class IncludeCache(TemplateRenderer renderer) : ITemplateCache
    {
        public bool TryGetTemplate(string subpath, DateTimeOffset lastModified, out IFluidTemplate template)
        {
            template = renderer.Load(LiquidEngine.TemplateFiles.WithExtension(subpath), required: true)!;
            return true;
        }

        public void SetTemplate(string subpath, DateTimeOffset lastModified, IFluidTemplate template)
        {
            // Never called: TryGetTemplate always answers, from the renderer's own cache.
        }
    }
#pragma warning restore FLUID001
}

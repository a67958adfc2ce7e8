using System.Collections.Concurrent;

namespace Newsletter.Mail;

/// <summary>A rendered email: subject, HTML and text.</summary>
public sealed record RenderedTemplate(string Subject, string Html, string Text);

/// <summary>A template that is missing, does not parse, or renders nothing.</summary>
public sealed class TemplateException(string message) : Exception(message);

/// <summary>
/// Liquid templates from a folder (templates/email), rendered by <see cref="LiquidTemplate"/>. Each email NAME is three files:
/// NAME.subject.liquid, NAME.html.liquid and NAME.text.liquid; the HTML and text bodies are wrapped in
/// _layout.html.liquid and _layout.text.liquid when those exist. Files are re-read when they change, so
/// an author can edit a template without a rebuild. A missing or broken template is an error at start-up
/// (ValidateAll), and a template that renders empty is an error at send time: never a blank email.
/// </summary>
public sealed class TemplateRenderer
{
    private readonly string _folder;
    private readonly ConcurrentDictionary<string, (DateTime Modified, LiquidTemplate Template)> _cache = new();

    /// <summary>Reads templates from <paramref name="folder"/>.</summary>
    public TemplateRenderer(string folder)
    {
        _folder = folder;
    }

    /// <summary>The folder templates are read from.</summary>
    public string Folder => _folder;

    /// <summary>Checks that every named email has its three files and that they (and the layouts) parse.</summary>
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

    /// <summary>Renders email <paramref name="name"/> with <paramref name="model"/>'s values as top-level variables.</summary>
    public RenderedTemplate Render(string name, IDictionary<string, object?> model)
    {
        var subject = RenderPart($"{name}.subject.liquid", model, html: false).Trim();
        var html = RenderPart($"{name}.html.liquid", model, html: true);
        var text = RenderPart($"{name}.text.liquid", model, html: false);
        html = Wrap("_layout.html.liquid", html, subject, model, html: true);
        text = Wrap("_layout.text.liquid", text, subject, model, html: false);
        if (subject.Length == 0 || string.IsNullOrWhiteSpace(html) || string.IsNullOrWhiteSpace(text))
        {
            throw new TemplateException($"Template '{name}' rendered an empty {(subject.Length == 0 ? "subject" : string.IsNullOrWhiteSpace(html) ? "HTML body" : "text body")}; refusing to send a blank email.");
        }

        if (subject.Any(c => c is '\r' or '\n'))
        {
            subject = string.Join(' ', subject.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)).Trim();
        }

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

        var modified = File.GetLastWriteTimeUtc(path);
        if (_cache.TryGetValue(file, out var cached) && cached.Modified == modified)
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

        _cache[file] = (modified, template);
        return template;
    }
}

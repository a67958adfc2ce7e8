using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.RegularExpressions;
using Fluid;
using Fluid.Ast;
using Fluid.Values;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Primitives;

namespace Newsletter.Mail;

/// <summary>A value that is already HTML (a rendered body) and must not be encoded again.</summary>
public sealed record RawHtml(string Value)
{
    /// <inheritdoc />
    public override string ToString() => Value;
}

/// <summary>
/// Fluid, set up for templates an author edits on the server and the send path renders unattended: the whole of
/// Liquid, but member access only to what the app passes (dictionaries, strings, numbers, dates and lists; no
/// .NET object is reflected over), includes only from the templates folder, and limits on steps, nesting,
/// ranges and characters, so no template can hang a send or eat the node's memory.
/// </summary>
internal sealed partial class LiquidEngine
{
    /// <summary>Statements one render may run; every output, tag and turn of a loop counts one.</summary>
    public const int MaxSteps = 100_000;

    /// <summary>How deep includes and blocks may nest; a template that includes itself stops here.</summary>
    public const int MaxRecursion = 20;

    /// <summary>
    /// Characters one render may produce, its output and every string a filter or capture makes along the way
    /// together. About 300 times a large issue; a relay refuses a message that size anyway (Postfix's default
    /// limit is 10 MB). Counting the intermediate strings is what stops a loop that doubles a string.
    /// </summary>
    public const int MaxCharacters = 10_000_000;

    private const string BudgetKey = "newsletter.budget";

    // Building the grammar is the costly part, and a FluidParser is safe to share: one for every template.
    private static readonly FluidParser Parser = new();

    private readonly TemplateOptions _options;

#pragma warning disable FLUID001 // ITemplateCache, "for evaluation": see TemplateRenderer.IncludeCache.
    public LiquidEngine(string folder, TimeZoneInfo timeZone, TimeProvider clock, ITemplateCache cache)
#pragma warning restore FLUID001
    {
        _options = new TemplateOptions
        {
            // Members only of types registered here, and none are: a template sees the model's dictionaries and
            // values, never the properties of an object someone put in it by mistake.
            MemberAccessStrategy = new DefaultMemberAccessStrategy(),
            FileProvider = new TemplateFiles(new PhysicalFileProvider(Path.GetFullPath(folder))),
            // TemplateFiles adds the extension itself: Fluid's own second try would cost a failed lookup per include.
            DefaultFileExtension = "",
            TemplateCache = cache,
            MaxSteps = MaxSteps,
            MaxRecursion = MaxRecursion,
            // Parse refuses an unknown filter; this is the backstop for one that only a render can see.
            StrictFilters = true,
            CultureInfo = CultureInfo.InvariantCulture,
            // Dates show in the author's zone, like everywhere on the site; "now" is the app's clock.
            TimeZone = timeZone,
            Now = () => TimeZoneInfo.ConvertTime(clock.GetUtcNow(), timeZone),
        };
        _options.ValueConverters.Add(value => value switch
        {
            RawHtml html => new StringValue(html.Value, encode: false),
            // The app keeps UTC; a DateTime that doesn't say so comes from the database and is UTC too.
            DateTime at => new DateTimeValue(TimeZoneInfo.ConvertTime(new DateTimeOffset(at.Kind == DateTimeKind.Local ? at.ToUniversalTime() : DateTime.SpecifyKind(at, DateTimeKind.Utc)), timeZone)),
            DateTimeOffset at => new DateTimeValue(TimeZoneInfo.ConvertTime(at, timeZone)),
            _ => null,
        });
        foreach (var (name, filter) in _options.Filters.ToList())
        {
            _options.Filters.AddFilter(name, Budgeted(filter));
        }
    }

    /// <summary>
    /// Parses <paramref name="source"/> and checks what Fluid would only find while rendering: filters that don't
    /// exist and includes of files that aren't in the folder (or are outside it).
    /// </summary>
    /// <exception cref="FormatException">Says what is wrong, with the line.</exception>
    public IFluidTemplate Parse(string source)
    {
        IFluidTemplate? template;
        try
        {
            template = Parser.Parse(source);
        }
        catch (ParseException e)
        {
            throw new FormatException(Describe(e.Message));
        }

        if (template is null)
        {
            throw new FormatException("the template does not parse");
        }

        var found = new Inventory();
        found.VisitTemplate(template);
        var problems = new List<string>();
        foreach (var filter in found.Filters.Distinct(StringComparer.Ordinal))
        {
            if (!_options.Filters.TryGetValue(filter, out _))
            {
                problems.Add($"{LineOf(source, $@"\|\s*{Regex.Escape(filter)}\b")}the filter '{filter}' does not exist");
            }
        }

        foreach (var include in found.Includes.Distinct(StringComparer.Ordinal))
        {
            if (_options.FileProvider.GetFileInfo(include) is not { Exists: true, IsDirectory: false })
            {
                problems.Add($"{LineOf(source, $@"(include|render)\s+['""]{Regex.Escape(include)}['""]")}'{include}' is not a template in this folder");
            }
        }

        if (problems.Count > 0)
        {
            throw new FormatException(string.Join("; ", problems));
        }

        return new Limiter().VisitTemplate(template);
    }

    /// <summary>Renders with the model's entries as top-level variables; <paramref name="html"/> encodes output unless raw.</summary>
    public string Render(IFluidTemplate template, IDictionary<string, object?> model, bool html)
    {
        var context = new TemplateContext(_options);
        foreach (var (name, value) in model)
        {
            context.SetValue(name, value);
        }

        var budget = new Budget();
        context.AmbientValues[BudgetKey] = budget;
        using var writer = new BudgetWriter(budget);
        var rendering = template.RenderAsync(writer, html ? HtmlEscaper.Instance : NullEncoder.Default, context);
        if (!rendering.IsCompletedSuccessfully)
        {
            // Nothing here waits on I/O (includes are read through the renderer's cache), so this completes at once.
            rendering.AsTask().GetAwaiter().GetResult();
        }

        return writer.ToString();
    }

    /// <summary>"'{% endif %}' was expected at (2:11)\nSource:..." as "line 2, column 11: '{% endif %}' was expected".</summary>
    private static string Describe(string message)
    {
        var match = FluidPosition().Match(message);
        return match.Success
            ? $"line {match.Groups["line"].Value}, column {match.Groups["column"].Value}: {match.Groups["what"].Value.Trim()}"
            : message.Split('\n')[0];
    }

    private static string LineOf(string source, string pattern)
    {
        var match = Regex.Match(source, pattern);
        return match.Success ? $"line {source.AsSpan(0, match.Index).Count('\n') + 1}: " : "";
    }

    private static FilterDelegate Budgeted(FilterDelegate filter) => (input, arguments, context) =>
    {
        var result = filter(input, arguments, context);
        return result.IsCompletedSuccessfully ? new ValueTask<FluidValue>(Spend(result.Result, context)) : Awaited(result, context);

        static async ValueTask<FluidValue> Awaited(ValueTask<FluidValue> result, TemplateContext context) => Spend(await result, context);
    };

    private static FluidValue Spend(FluidValue value, TemplateContext context)
    {
        if (value is StringValue && context.AmbientValues.TryGetValue(BudgetKey, out var budget))
        {
            ((Budget)budget).Spend(value.ToStringValue().Length);
        }

        return value;
    }

    [GeneratedRegex(@"^(?<what>.*?) at \((?<line>\d+):(?<column>\d+)\)", RegexOptions.Singleline)]
    private static partial Regex FluidPosition();

    /// <summary>
    /// What include and render can read: .liquid files in the templates folder, named with or without the
    /// extension. The physical provider is rooted at the folder, so a path that climbs out of it ("../",
    /// "/etc/...") is not found; and only templates, so not a stray backup or notes file beside them.
    /// </summary>
    public sealed class TemplateFiles(PhysicalFileProvider folder) : IFileProvider
    {
        public const string Extension = ".liquid";

        public static string WithExtension(string path) => path.EndsWith(Extension, StringComparison.Ordinal) ? path : path + Extension;

        public IFileInfo GetFileInfo(string subpath) => folder.GetFileInfo(WithExtension(subpath));

        public IDirectoryContents GetDirectoryContents(string subpath) => NotFoundDirectoryContents.Singleton;

        public IChangeToken Watch(string filter) => NullChangeToken.Singleton;
    }

    /// <summary>Characters left for one render.</summary>
    private sealed class Budget
    {
        private long _left = MaxCharacters;

        public void Spend(int characters)
        {
            _left -= characters;
            if (_left < 0)
            {
                throw new LiquidLimitException($"it produced more than {MaxCharacters:N0} characters (a loop that grows a string, or repeats a large one)");
            }
        }
    }

    /// <summary>A StringWriter that charges what is written to the render's budget before keeping it.</summary>
    private sealed class BudgetWriter(Budget budget) : StringWriter(new StringBuilder(), CultureInfo.InvariantCulture)
    {
        public override void Write(char value)
        {
            budget.Spend(1);
            base.Write(value);
        }

        public override void Write(string? value)
        {
            budget.Spend(value?.Length ?? 0);
            base.Write(value);
        }

        public override void Write(char[] buffer, int index, int count)
        {
            budget.Spend(count);
            base.Write(buffer, index, count);
        }

        public override void Write(ReadOnlySpan<char> buffer)
        {
            budget.Spend(buffer.Length);
            base.Write(buffer);
        }

        public override Task WriteAsync(char value)
        {
            Write(value);
            return Task.CompletedTask;
        }

        public override Task WriteAsync(string? value)
        {
            Write(value);
            return Task.CompletedTask;
        }

        public override Task WriteAsync(char[] buffer, int index, int count)
        {
            Write(buffer, index, count);
            return Task.CompletedTask;
        }

        public override Task WriteAsync(ReadOnlyMemory<char> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return Task.CompletedTask;
        }
    }

    /// <summary>
    /// Rewrites a parsed template so its ranges and captures keep to the limits: Fluid builds the whole array of a
    /// range before the first turn of a loop over it, so <c>(1..2000000000)</c> would exhaust memory long before
    /// the step limit is reached; and a capture writes into a buffer of its own that the output's budget can't see.
    /// </summary>
    private sealed class Limiter : AstRewriter
    {
        protected override Expression VisitRangeExpression(RangeExpression rangeExpression) =>
            new BoundedRange(Visit(rangeExpression.From), Visit(rangeExpression.To));

        protected override Statement VisitCaptureStatement(CaptureStatement captureStatement) =>
            base.VisitCaptureStatement(captureStatement) is CaptureStatement capture ? new BudgetedCapture(capture.Identifier, capture.Statements) : captureStatement;
    }

    private sealed class BoundedRange(Expression from, Expression to) : Expression
    {
        public override async ValueTask<FluidValue> EvaluateAsync(TemplateContext context)
        {
            var start = (await from.EvaluateAsync(context)).ToNumberValue();
            var end = (await to.EvaluateAsync(context)).ToNumberValue();
            var count = end - start + 1;
            if (count > MaxSteps)
            {
                throw new LiquidLimitException($"the range ({start}..{end}) has {count:N0} numbers, more than the {MaxSteps:N0} steps a template may run");
            }

            var first = (int)start;
            var items = new FluidValue[(int)Math.Max(0, count)];
            for (var i = 0; i < items.Length; i++)
            {
                items[i] = NumberValue.Create(first + i);
            }

            return new ArrayValue(items);
        }
    }

    /// <summary>Fluid's capture, writing into a buffer that charges the render's budget.</summary>
    private sealed class BudgetedCapture(string identifier, IReadOnlyList<Statement> statements) : Statement
    {
        public override async ValueTask<Completion> WriteToAsync(TextWriter writer, TextEncoder encoder, TemplateContext context)
        {
            var completion = Completion.Normal;
            using var captured = new BudgetWriter((Budget)context.AmbientValues[BudgetKey]);
            foreach (var statement in statements)
            {
                completion = await statement.WriteToAsync(captured, encoder, context);
                if (completion != Completion.Normal)
                {
                    break;
                }
            }

            // Already encoded as it was written, so not encoded again when output.
            FluidValue result = new StringValue(captured.ToString(), false);
            if (context.Captured is not null)
            {
                result = await context.Captured(identifier, result, context);
            }

            context.SetValue(identifier, result);
            return completion;
        }
    }

    /// <summary>Every filter used and every include or render of a literal path, for <see cref="Parse"/> to check.</summary>
    private sealed class Inventory : AstVisitor
    {
        public List<string> Filters { get; } = [];

        public List<string> Includes { get; } = [];

        protected override Expression VisitFilterExpression(FilterExpression filterExpression)
        {
            Filters.Add(filterExpression.Name);
            return base.VisitFilterExpression(filterExpression);
        }

        protected override Statement VisitIncludeStatement(IncludeStatement includeStatement)
        {
            if (includeStatement.Path is LiteralExpression literal)
            {
                Includes.Add(literal.Value.ToStringValue());
            }

            return base.VisitIncludeStatement(includeStatement);
        }

        protected override Statement VisitRenderStatement(RenderStatement renderStatement)
        {
            Includes.Add(renderStatement.Path);
            return base.VisitRenderStatement(renderStatement);
        }
    }
}

/// <summary>A template went past one of <see cref="LiquidEngine"/>'s limits while rendering.</summary>
internal sealed class LiquidLimitException(string message) : Exception(message);

using System.Diagnostics;
using System.Globalization;
using System.Net;
using Newsletter.Benchmarks.Sending;
using Newsletter.Mail;
using Newsletter.Web.Mail;
using Newsletter.Web.Sending;

namespace Newsletter.Benchmarks.Mail;

/// <summary>
/// dotnet run -c Release --project tests/Newsletter.Benchmarks -- templates [--count N]
/// CPU per call, one thread, of the email templates in templates/email: parsing all of them cold, rendering
/// a confirmation (rendered once per reader, in its job), and rendering a ~20 KB issue. The baseline is what
/// the send path does per reader instead of rendering the issue: filling the issue rendered once with the
/// reader's links, name and address (<see cref="MarkedText"/>).
/// </summary>
internal static class TemplateBenchmark
{
    public static Task<int> RunAsync(string[] args)
    {
        var count = 20_000;
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--count" && i + 1 < args.Length)
            {
                count = int.Parse(args[++i], CultureInfo.InvariantCulture);
            }
        }

        var folder = Path.Combine(Bench.Root, "templates", "email");
        var renderer = new TemplateRenderer(folder);
        var (html, text) = SendSeed.Body(20 * 1024);
        var confirm = Model("Ann <Reader>", "ann@example.org", "https://field-notes.example/unsubscribe/tok");
        confirm["confirm_url"] = "https://field-notes.example/confirm/tok?x=1&y=2";
        confirm["expires_days"] = 7;
        var markers = IssueMarkers.New();
        var issue = Model(markers.Name, markers.Email, markers.Unsubscribe);
        issue["preferences_url"] = markers.Preferences;
        issue["issue"] = new Dictionary<string, object?>
        {
            ["subject"] = "Issue 12: the 40 ms stall",
            ["number"] = "12",
            ["date"] = new DateTime(2026, 9, 14, 6, 30, 0, DateTimeKind.Utc),
            ["web_url"] = "https://field-notes.example/archive/the-40-ms-stall",
            ["preheader"] = "Nagle, delayed ACKs and a mail queue that wouldn't go faster.",
        };
        issue["preheader"] = "Nagle, delayed ACKs and a mail queue that wouldn't go faster.";
        issue["body_html"] = html;
        issue["body_text"] = text;

        var rendered = renderer.Render("issue", issue);
        var prepared = new PreparedIssue(1, rendered.Subject, rendered.Html, rendered.Text, "field-notes.example", markers)
        {
            UnsubscribeBase = "https://field-notes.example/unsubscribe/",
            PreferencesBase = "https://field-notes.example/preferences/",
            UnsubscribeBaseHtml = "https://field-notes.example/unsubscribe/",
            PreferencesBaseHtml = "https://field-notes.example/preferences/",
            ListId = "Field Notes <field-notes.example>",
            MailtoPrefix = "mailto:notes@field-notes.example?subject=unsubscribe%20",
        };

        var renderConfirm = Time(count, _ => renderer.Render("confirm", confirm));
        var renderIssue = Time(count, _ => renderer.Render("issue", issue));
        var fill = Time(count, i =>
        {
            var token = i.ToString("D12", CultureInfo.InvariantCulture);
            var name = $"Reader {i}";
            var email = $"reader{i:D7}@example.org";
            prepared.HtmlParts.FillUtf8([prepared.UnsubscribeBaseHtml + token, prepared.PreferencesBaseHtml + token, WebUtility.HtmlEncode(name), WebUtility.HtmlEncode(email)]);
            prepared.TextParts.FillUtf8([prepared.UnsubscribeBase + token, prepared.PreferencesBase + token, name, email]);
        });

        // Last: it leaves thousands of renderers for the collector, which the loops above shouldn't pay for.
        var parse = Time(Math.Max(1, count / 100), _ => new TemplateRenderer(folder).ValidateAll(MailExtensions.Templates));

        Console.WriteLine($"email templates in {folder}, one thread, CPU time per call (load {Bench.LoadAverage}):");
        Console.WriteLine($"  {$"parse all {MailExtensions.Templates.Length} emails and the layouts, cold",-48} {parse,10:F1} us");
        Console.WriteLine($"  {"render a confirmation email",-48} {renderConfirm,10:F1} us");
        Console.WriteLine($"  {$"render a ~{html.Length / 1024} KB issue",-48} {renderIssue,10:F1} us");
        Console.WriteLine($"  {"fill a rendered issue for one reader (baseline)",-48} {fill,10:F1} us");
        Console.WriteLine($"  {"rendering per reader / filling per reader",-48} {renderIssue / fill,10:F1} x");
        return Task.FromResult(0);
    }

    private static Dictionary<string, object?> Model(string name, string email, string unsubscribe) => new()
    {
        ["site"] = new Dictionary<string, object?> { ["title"] = "Field Notes", ["url"] = "https://field-notes.example" },
        ["footer_text"] = "Field Notes · Postfach 10 11 12 · 10117 Berlin",
        ["subscriber"] = new Dictionary<string, object?> { ["name"] = name, ["email"] = email },
        ["unsubscribe_url"] = unsubscribe,
        ["preferences_url"] = "https://field-notes.example/preferences/tok",
        ["why"] = $"You get this because {email} subscribed to Field Notes.",
    };

    private static double Time(int count, Action<int> action)
    {
        // Warm up for a second as well as 2,000 calls: tiered compilation moves hot code to its optimised
        // tier only after a delay, and on a busy machine the first timed loop otherwise pays for it.
        var warm = Stopwatch.StartNew();
        for (var i = 0; i < Math.Min(2000, count) || warm.Elapsed < TimeSpan.FromSeconds(1); i++)
        {
            action(i % Math.Max(1, count));
        }

        // CPU time, not wall time: other processes on a busy machine then do not count against us.
        var before = Process.GetCurrentProcess().TotalProcessorTime;
        for (var i = 0; i < count; i++)
        {
            action(i);
        }

        return (Process.GetCurrentProcess().TotalProcessorTime - before).TotalMicroseconds / count;
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Issues;

namespace Newsletter.Benchmarks.Sending;

/// <summary>
/// The app as the README runs it (the built Newsletter.Web.dll, configuration from the repository root),
/// on a data folder of the benchmark's own, with its log kept and its peak RSS read before it stops.
/// </summary>
internal sealed class BenchApp : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private BenchApp(Process process, string url)
    {
        _process = process;
        Url = url;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Url { get; }

    public int Pid => _process.Id;

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    public static async Task<BenchApp> StartAsync(string dataFolder, Dictionary<string, string> settings)
    {
        var url = $"http://127.0.0.1:{Loopback.FreePort()}";
        var info = new ProcessStartInfo("dotnet", [Bench.WebDll, "--urls", url])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Bench.Root,
        };
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        info.Environment["Data__Folder"] = dataFolder;
        info.Environment["Notes__Folder"] = Path.Combine(dataFolder, "notes");
        info.Environment["Notes__ImportOnStartup"] = "false";
        info.Environment["Site__BaseUrl"] = url;
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        info.Environment["Logging__LogLevel__Newsletter"] = "Information";
        foreach (var (k, v) in settings)
        {
            info.Environment[k] = v;
        }

        Directory.CreateDirectory(Path.Combine(dataFolder, "notes"));
        var app = new BenchApp(Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start"), url);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        for (var deadline = DateTime.UtcNow.AddSeconds(90); DateTime.UtcNow < deadline;)
        {
            if (app._process.HasExited)
            {
                throw new InvalidOperationException($"The app exited during start-up:\n{app.Log}");
            }

            try
            {
                if ((await http.GetAsync(url + "/css/site.css")).StatusCode == HttpStatusCode.OK)
                {
                    return app;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // not answering yet
            }

            await Task.Delay(100);
        }

        app.Dispose();
        throw new TimeoutException("The app did not answer in 90 s.");
    }

    public long PeakRssBytes => Bench.PeakRssBytes(_process.Id);

    /// <summary>Resets VmHWM to the current RSS (Linux: 5 to /proc/PID/clear_refs), so a later peak is a later phase's.</summary>
    public void ResetPeakRss() => File.WriteAllText($"/proc/{_process.Id}/clear_refs", "5");

    /// <summary>User plus system CPU the app has used so far: a cost per message that a busy machine does not distort.</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>CPU seconds so far by thread name (Linux /proc): which part of the app the time went to.</summary>
    public Dictionary<string, double> CpuByThread()
    {
        var byName = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var task in Directory.EnumerateDirectories($"/proc/{_process.Id}/task"))
        {
            try
            {
                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                var name = stat[(stat.IndexOf('(', StringComparison.Ordinal) + 1)..stat.LastIndexOf(')')];
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                // Numbered workers ("Worker #3") are one kind of thread.
                var kind = System.Text.RegularExpressions.Regex.Replace(name, @"\s*#?\d+$", "");
                byName[kind] = byName.GetValueOrDefault(kind) + ticks / 100.0;
            }
            catch (IOException)
            {
                // the thread ended while we looked
            }
        }

        return byName;
    }

    public void Dispose()
    {
        Loopback.Stop(_process);
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_log)
            {
                _log.AppendLine(line);
            }
        }
    }
}

/// <summary>Postfix's smtp-sink on a free loopback port: accepts everything, stores nothing.</summary>
internal sealed class SmtpSink : IDisposable
{
    public const string SinkPath = "/usr/sbin/smtp-sink";
    public const string SourcePath = "/usr/sbin/smtp-source";

    private readonly Process _process;

    private SmtpSink(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The sink's CPU seconds so far (user plus system): one process, one event loop.</summary>
    public double CpuSeconds => Bench.CpuTime(_process.Id)?.TotalSeconds ?? 0;

    public static bool Installed(out string why)
    {
        why = File.Exists(SinkPath) && File.Exists(SourcePath) ? "" : $"{SinkPath} and {SourcePath} are needed (apt-get install postfix).";
        return why.Length == 0;
    }

    public static async Task<SmtpSink> StartAsync()
    {
        var port = Loopback.FreePort();
        // smtp-sink refuses to run as root unless told whom to become after binding.
        List<string> args = Environment.UserName == "root" ? ["-u", "nobody"] : [];
        args.AddRange([$"127.0.0.1:{port}", "256"]);
        var process = Process.Start(new ProcessStartInfo(SinkPath, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        await Loopback.WaitForPortAsync(port);
        return new SmtpSink(process, port);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit(5_000);
        }

        _process.Dispose();
    }
}

/// <summary>A database with the schema, <c>readers</c> active subscribers and one draft issue of a given size.</summary>
internal static class SendSeed
{
    public static async Task<int> CreateAsync(BenchDatabase database, int readers, string html, string text)
    {
        await database.MigrateAsync();
        await database.SeedReadersAsync(readers);
        await using var db = database.Open();
        var issue = new Issue
        {
            Subject = "Issue 12: the 40 ms stall",
            Slug = "the-40-ms-stall",
            Preheader = "Nagle, delayed ACKs and a mail queue that wouldn't go faster.",
            Markdown = "(benchmark)",
            Html = html,
            PlainText = text,
            Status = IssueStatus.Draft,
        };
        db.Issues.Add(issue);
        await db.SaveChangesAsync();
        return issue.Id;
    }

    /// <summary>Marks the issue due now; the app's reconciler, which runs at start-up, starts it.</summary>
    public static async Task SendNowAsync(BenchDatabase database, int issueId)
    {
        await using var db = database.Open();
        await db.Issues.Where(i => i.Id == issueId)
            .ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, IssueStatus.Scheduled).SetProperty(i => i.ScheduledAt, DateTime.UtcNow));
    }

    /// <summary>About <paramref name="htmlBytes"/> of HTML with headings, code and a table, and its plain text.</summary>
    public static (string Html, string Text) Body(int htmlBytes)
    {
        const string paragraph = "Our SMTP sender topped out at 24 messages a second per connection, with idle CPUs and an idle relay. "
            + "The cause was two sensible TCP optimisations that deadlock each other for exactly one timer tick: Nagle holds back the "
            + "last small segment until the previous one is acknowledged, and the peer delays that acknowledgement by up to 40 ms. ";
        var html = new StringBuilder();
        var text = new StringBuilder();
        for (var s = 1; html.Length < htmlBytes; s++)
        {
            html.Append(CultureInfo.InvariantCulture, $"<h2 id=\"section-{s}\">Section {s}: where the time went</h2>\n");
            text.Append(CultureInfo.InvariantCulture, $"Section {s}: where the time went\n\n");
            for (var p = 0; p < 3; p++)
            {
                html.Append("<p>").Append(paragraph).Append("<a href=\"https://example.org/notes/the-40-ms-stall\">Read more</a>.</p>\n");
                text.Append(paragraph).Append("\n\n");
            }

            html.Append("<pre><code>socket.NoDelay = true; // without it every message waits for a delayed ACK</code></pre>\n");
            html.Append("<table><thead><tr><th>setting</th><th>msg/s</th></tr></thead><tbody><tr><td>Nagle on</td><td>24</td></tr><tr><td>TCP_NODELAY</td><td>2,900</td></tr></tbody></table>\n");
            text.Append("socket.NoDelay = true;\n\n");
        }

        return (html.ToString(), text.ToString());
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Notes;

namespace Newsletter.Benchmarks.Archive;

/// <summary>
/// S3: the public archive page and a ~30 KB issue page under wrk -c50 on loopback, against nginx serving
/// the very same bytes as static files, side by side in one run on the same machine. Reports requests/s,
/// p99 and the ratio to nginx. Goal: at least 0.6 of nginx's requests/s and a p99 of 10 ms or less.
/// Usage: dotnet run -c Release --project tests/Newsletter.Benchmarks -- s3 [seconds=15] [connections=50]
/// </summary>
public static class ArchiveBenchmark
{
    private const string Nginx = "/usr/sbin/nginx";
    private const string Wrk = "/usr/bin/wrk";
    private const double RatioGoal = 0.6;
    private const double P99GoalMs = 10;

    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 15;
        var connections = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 50;
        foreach (var tool in new[] { Nginx, Wrk })
        {
            if (!File.Exists(tool))
            {
                Console.Error.WriteLine($"{tool} is not installed (apt-get install nginx-light wrk).");
                return 2;
            }
        }

        if (typeof(ArchiveBenchmark).Assembly.GetCustomAttribute<DebuggableAttribute>()?.IsJITOptimizerDisabled == true)
        {
            Console.Error.WriteLine("warning: this is a Debug build; run with -c Release for numbers worth reporting.");
        }

        var dir = Path.Combine(Path.GetTempPath(), "newsletter-bench", $"s3-{DateTime.UtcNow:HHmmss}-{Environment.ProcessId}");
        Directory.CreateDirectory(Path.Combine(dir, "data"));
        Directory.CreateDirectory(Path.Combine(dir, "notes"));
        Console.WriteLine($"S3 archive benchmark: wrk -t2 -c{connections} -d{seconds}s --latency, folder {dir}");
        var issueSlug = await SeedAsync(Path.Combine(dir, "data", "newsletter.db"));

        var appPort = FreePort();
        var appUrl = $"http://127.0.0.1:{appPort}";
        using var app = StartApp(dir, appUrl);
        Process? nginx = null;
        try
        {
            await WaitAsync(appUrl + "/css/site.css");
            using var http = new HttpClient();
            var archive = await http.GetByteArrayAsync(appUrl + "/archive");
            var issue = await http.GetByteArrayAsync(appUrl + $"/issues/{issueSlug}");
            Console.WriteLine($"archive page {archive.Length / 1024.0:F1} KB, issue page {issue.Length / 1024.0:F1} KB");

            var nginxPort = FreePort();
            var nginxUrl = $"http://127.0.0.1:{nginxPort}";
            nginx = StartNginx(Path.Combine(dir, "nginx"), nginxPort, archive, issue);
            await WaitAsync(nginxUrl + "/archive.html");

            var pages = new[] { ("archive", "/archive", "/archive.html"), ("issue", $"/issues/{issueSlug}", "/issue.html") };
            // Warm both servers on both pages first: the JIT's tiers and dynamic PGO need a few seconds of
            // traffic before the app runs the code it will run all day; nginx fills its open-file cache.
            foreach (var (_, appPath, nginxPath) in pages)
            {
                await WrkAsync(appUrl + appPath, 5, connections);
                await WrkAsync(nginxUrl + nginxPath, 2, connections);
            }

            var rows = new List<(string Page, Result App, Result Nginx)>();
            foreach (var (page, appPath, nginxPath) in pages)
            {
                var a = await WrkAsync(appUrl + appPath, seconds, connections);
                var n = await WrkAsync(nginxUrl + nginxPath, seconds, connections);
                rows.Add((page, a, n));
            }

            Console.WriteLine();
            Console.WriteLine($"{"page",-8} {"server",-7} {"req/s",10} {"p99 ms",8} {"errors",7}");
            var met = true;
            foreach (var (page, a, n) in rows)
            {
                Console.WriteLine($"{page,-8} {"app",-7} {a.RequestsPerSecond,10:F0} {a.P99Ms,8:F2} {a.Errors,7}");
                Console.WriteLine($"{page,-8} {"nginx",-7} {n.RequestsPerSecond,10:F0} {n.P99Ms,8:F2} {n.Errors,7}");
                var ratio = a.RequestsPerSecond / n.RequestsPerSecond;
                var ok = ratio >= RatioGoal && a.P99Ms <= P99GoalMs && a.Errors == 0;
                met &= ok;
                Console.WriteLine($"{page,-8} ratio app/nginx {ratio:F2} (goal >= {RatioGoal}), app p99 {a.P99Ms:F2} ms (goal <= {P99GoalMs}) -> {(ok ? "met" : "NOT MET")}");
            }

            Console.WriteLine(met ? "S3: goals met." : "S3: goals NOT met.");
            return met ? 0 : 1;
        }
        finally
        {
            Stop(nginx);
            Stop(app);
        }
    }

    /// <summary>A site with a history: 150 sent issues over three years, notes with tags, one issue of about 30 KB.</summary>
    private static async Task<string> SeedAsync(string databaseFile)
    {
        var options = new DbContextOptionsBuilder<AppDbContext>().UseSqlite($"Data Source={databaseFile}").Options;
        await using var db = new AppDbContext(options);
        await db.Database.MigrateAsync();
        var paragraph = "A delivery ledger keeps one row per recipient and issue, so a crash can be replayed without losing a send or doubling one. "
            + "The window in which a duplicate is possible is bounded by the batch in flight, measured by killing workers on purpose, and reported. ";
        var tags = new[] { "reliability", "email", "sqlite", "performance", "incidents" };
        for (var i = 1; i <= 12; i++)
        {
            var note = new Note
            {
                Slug = $"note-{i}",
                Title = $"Working note {i}: on queues and ledgers",
                Status = NoteStatus.Published,
                Summary = "A short working note.",
                Html = $"<p>{paragraph}</p>",
                PlainText = paragraph,
                Date = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddDays(i * 7),
            };
            note.SetTags([tags[i % tags.Length], tags[(i + 2) % tags.Length]]);
            db.Notes.Add(note);
        }

        var body = new StringBuilder();
        for (var s = 1; body.Length < 26_000; s++)
        {
            body.Append(CultureInfo.InvariantCulture, $"<h2>Section {s}</h2>");
            for (var p = 0; p < 4; p++)
            {
                body.Append("<p>").Append(paragraph).Append("</p>");
            }

            body.Append("<pre><code>SELECT count(*) FROM Deliveries WHERE IssueId = 42 AND Status = 'Sent';</code></pre>");
        }

        var start = new DateTime(2024, 1, 8, 7, 0, 0, DateTimeKind.Utc);
        for (var n = 1; n <= 150; n++)
        {
            var at = start.AddDays(7 * n);
            var issue = new Issue
            {
                Number = n,
                Slug = $"issue-{n}",
                Subject = $"Issue {n}: what the ledger taught us this week",
                Summary = "Why every send is at-least-once, how small the duplicate window is, and what a 40 ms stall looks like on a histogram.",
                Html = n == 100 ? body.ToString() : $"<p>{paragraph}</p>",
                PlainText = n == 100 ? string.Concat(Enumerable.Repeat(paragraph, 40)) : paragraph,
                Status = IssueStatus.Sent,
                PublishedAt = at,
                CompletedAt = at.AddMinutes(12),
                UpdatedAt = at,
                WebOnly = n % 10 == 0,
            };
            issue.Tags.Add(new IssueTag { Tag = tags[n % tags.Length] });
            db.Issues.Add(issue);
        }

        await db.SaveChangesAsync();
        return "issue-100";
    }

    private static Process StartApp(string dir, string url)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Newsletter.Web.dll");
        var info = new ProcessStartInfo("dotnet", [dll, "--urls", url])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = FindRoot(),
        };
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        info.Environment["Data__Folder"] = Path.Combine(dir, "data");
        info.Environment["Notes__Folder"] = Path.Combine(dir, "notes");
        info.Environment["Notes__ImportOnStartup"] = "false";
        info.Environment["Site__BaseUrl"] = url;
        info.Environment["Jobs__Storage"] = "InMemory";
        info.Environment["Jobs__Server"] = "false";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        var process = Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start");
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        return process;
    }

    /// <summary>nginx as a foreground child on a free loopback port; config, pid, logs and temp files all in our folder.</summary>
    private static Process StartNginx(string dir, int port, byte[] archive, byte[] issue)
    {
        var html = Path.Combine(dir, "html");
        Directory.CreateDirectory(html);
        Directory.CreateDirectory(Path.Combine(dir, "temp"));
        File.WriteAllBytes(Path.Combine(html, "archive.html"), archive);
        File.WriteAllBytes(Path.Combine(html, "issue.html"), issue);
        var conf = Path.Combine(dir, "nginx.conf");
        File.WriteAllText(conf, $$"""
            worker_processes auto;
            daemon off;
            pid {{dir}}/nginx.pid;
            error_log {{dir}}/error.log warn;
            events { worker_connections 1024; }
            http {
                access_log off;
                sendfile on;
                tcp_nopush on;
                tcp_nodelay on;
                keepalive_timeout 65;
                keepalive_requests 1000000;
                open_file_cache max=16;
                client_body_temp_path {{dir}}/temp/body;
                proxy_temp_path {{dir}}/temp/proxy;
                fastcgi_temp_path {{dir}}/temp/fastcgi;
                uwsgi_temp_path {{dir}}/temp/uwsgi;
                scgi_temp_path {{dir}}/temp/scgi;
                types { text/html html; }
                server {
                    listen 127.0.0.1:{{port}};
                    root {{html}};
                }
            }
            """);
        var info = new ProcessStartInfo(Nginx, ["-c", conf, "-p", dir, "-e", Path.Combine(dir, "error.log")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var process = Process.Start(info) ?? throw new InvalidOperationException("nginx did not start");
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        return process;
    }

    private sealed record Result(double RequestsPerSecond, double P99Ms, long Errors);

    private static async Task<Result> WrkAsync(string url, int seconds, int connections)
    {
        using var p = Process.Start(new ProcessStartInfo(Wrk, ["-t2", $"-c{connections}", $"-d{seconds}s", "--latency", url])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        var lines = output.Split('\n').Select(l => l.Trim()).ToList();
        var rps = double.Parse(lines.Single(l => l.StartsWith("Requests/sec:", StringComparison.Ordinal))["Requests/sec:".Length..].Trim(), CultureInfo.InvariantCulture);
        var p99 = Milliseconds(lines.Single(l => l.StartsWith("99%", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        // wrk reports non-2xx answers and socket errors only when there are some.
        var errors = lines.Where(l => l.StartsWith("Non-2xx", StringComparison.Ordinal) || l.StartsWith("Socket errors", StringComparison.Ordinal))
            .Sum(l => l.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries).Select(w => long.TryParse(w, out var v) ? v : 0).Sum());
        return new Result(rps, p99, errors);
    }

    private static double Milliseconds(string value)
    {
        var unit = value.TrimStart('0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '.');
        var number = double.Parse(value[..^unit.Length], CultureInfo.InvariantCulture);
        return unit switch
        {
            "us" => number / 1000,
            "ms" => number,
            "s" => number * 1000,
            "m" => number * 60_000,
            _ => throw new FormatException($"wrk latency '{value}'"),
        };
    }

    private static async Task WaitAsync(string url)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if ((await http.GetAsync(url)).StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException)
            {
                // not answering yet
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"{url} did not answer within a minute");
    }

    private static void Stop(Process? process)
    {
        if (process is { HasExited: false })
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Newsletter.sln")))
            {
                return dir.FullName;
            }
        }

        return Directory.GetCurrentDirectory();
    }
}

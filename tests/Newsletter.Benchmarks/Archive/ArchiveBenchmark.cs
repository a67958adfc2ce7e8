using System.Globalization;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using Newsletter.Web.Notes;

namespace Newsletter.Benchmarks.Archive;

/// <summary>
/// S3: the public archive page and a ~30 KB issue page under wrk -c50 on loopback, against nginx serving
/// the very same bytes as static files and a bare Kestrel serving them from memory (the runtime's floor),
/// side by side in one run on the same machine. Reports requests/s, p99 and the ratios. Goals (issue 15):
/// at least 0.9 of the bare Kestrel's requests/s and 0.6 of nginx's, and a p99 of 10 ms or less.
/// Usage: dotnet run -c Release --project tests/Newsletter.Benchmarks -- s3 [seconds=15] [connections=50]
/// </summary>
public static class ArchiveBenchmark
{
    private const double RatioGoal = 0.6;
    private const double BareRatioGoal = 0.9;
    private const double P99GoalMs = 10;

    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 15;
        var connections = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 50;
        if (!Loopback.Ready("nginx-light wrk", Loopback.Nginx, Loopback.Wrk))
        {
            return 2;
        }

        var dir = Bench.Temp("s3");
        Directory.CreateDirectory(Path.Combine(dir, "data"));
        Directory.CreateDirectory(Path.Combine(dir, "notes"));
        Console.WriteLine($"S3 archive benchmark: wrk -t2 -c{connections} -d{seconds}s --latency, folder {dir}");
        var issueSlug = await SeedAsync(Path.Combine(dir, "data", "newsletter.db"));

        var appUrl = $"http://127.0.0.1:{Loopback.FreePort()}";
        using var app = Loopback.StartApp(appUrl, Path.Combine(dir, "data"), Path.Combine(dir, "notes"), new Dictionary<string, string> { ["Notes__ImportOnStartup"] = "false" });
        System.Diagnostics.Process? nginx = null;
        var bare = new List<System.Diagnostics.Process>();
        try
        {
            await Loopback.WaitAsync(appUrl + "/css/site.css");
            using var http = new HttpClient();
            var archive = await http.GetByteArrayAsync(appUrl + "/archive");
            var issue = await http.GetByteArrayAsync(appUrl + $"/issues/{issueSlug}");
            Console.WriteLine($"archive page {archive.Length / 1024.0:F1} KB, issue page {issue.Length / 1024.0:F1} KB");

            var nginxPort = Loopback.FreePort();
            var nginxUrl = $"http://127.0.0.1:{nginxPort}";
            nginx = Loopback.StartNginx(Path.Combine(dir, "nginx"), nginxPort, [("archive.html", archive), ("issue.html", issue)]);
            await Loopback.WaitAsync(nginxUrl + "/archive.html");

            // One bare Kestrel per page, since it answers every GET with its one file.
            var bareUrls = new List<string>();
            foreach (var (name, bytes) in new[] { ("archive.html", archive), ("issue.html", issue) })
            {
                var file = Path.Combine(dir, name);
                await File.WriteAllBytesAsync(file, bytes);
                var port = Loopback.FreePort();
                bare.Add(Loopback.StartBareKestrel(port, file));
                bareUrls.Add($"http://127.0.0.1:{port}/{name}");
                await Loopback.WaitAsync(bareUrls[^1]);
            }

            var pages = new[] { ("archive", "/archive", "/archive.html", bareUrls[0]), ("issue", $"/issues/{issueSlug}", "/issue.html", bareUrls[1]) };
            // Warm every server on every page first: the JIT's tiers and dynamic PGO need a few seconds of
            // traffic before the app (or Kestrel) runs the code it will run all day; nginx fills its open-file cache.
            foreach (var (_, appPath, nginxPath, bareUrl) in pages)
            {
                await Loopback.WrkAsync(appUrl + appPath, 5, connections);
                await Loopback.WrkAsync(bareUrl, 5, connections);
                await Loopback.WrkAsync(nginxUrl + nginxPath, 2, connections);
            }

            var rows = new List<(string Page, WrkResult App, WrkResult Bare, WrkResult Nginx)>();
            foreach (var (page, appPath, nginxPath, bareUrl) in pages)
            {
                var a = await Loopback.WrkAsync(appUrl + appPath, seconds, connections);
                var b = await Loopback.WrkAsync(bareUrl, seconds, connections);
                var n = await Loopback.WrkAsync(nginxUrl + nginxPath, seconds, connections);
                rows.Add((page, a, b, n));
            }

            Console.WriteLine();
            Console.WriteLine($"{"page",-8} {"server",-7} {"req/s",10} {"p50 ms",8} {"p99 ms",8} {"errors",7}");
            var met = true;
            foreach (var (page, a, b, n) in rows)
            {
                Console.WriteLine($"{page,-8} {"app",-7} {a.RequestsPerSecond,10:F0} {a.P50Ms,8:F2} {a.P99Ms,8:F2} {a.Errors,7}");
                Console.WriteLine($"{page,-8} {"Kestrel",-7} {b.RequestsPerSecond,10:F0} {b.P50Ms,8:F2} {b.P99Ms,8:F2} {b.Errors,7}");
                Console.WriteLine($"{page,-8} {"nginx",-7} {n.RequestsPerSecond,10:F0} {n.P50Ms,8:F2} {n.P99Ms,8:F2} {n.Errors,7}");
                var ratio = a.RequestsPerSecond / n.RequestsPerSecond;
                var bareRatio = a.RequestsPerSecond / b.RequestsPerSecond;
                var ok = ratio >= RatioGoal && bareRatio >= BareRatioGoal && a.P99Ms <= P99GoalMs && a.Errors == 0;
                met &= ok;
                Console.WriteLine($"{page,-8} ratio app/bare Kestrel {bareRatio:F2} (goal >= {BareRatioGoal}), app/nginx {ratio:F2} (goal >= {RatioGoal}), "
                    + $"app p99 {a.P99Ms:F2} ms (goal <= {P99GoalMs}) -> {(ok ? "met" : "NOT MET")}");
            }

            Console.WriteLine(met ? "S3: goals met." : "S3: goals NOT met.");
            return met ? 0 : 1;
        }
        finally
        {
            bare.ForEach(Loopback.Stop);
            Loopback.Stop(nginx);
            Loopback.Stop(app);
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
}

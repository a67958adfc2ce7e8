using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;

namespace Newsletter.Benchmarks.Subscribers;

/// <summary>
/// The admin's subscriber list at a million rows: how long each page of it takes, as an author signed in
/// through the real app sees it. Seeds 1,000,000 subscribers (mixed statuses, a third tagged, two years of
/// sign-ups), then times sequential requests for the first page, a page deep into the keyset, filters by
/// status and tag, searches, a subscriber's detail page, and a full CSV export (streamed; peak RSS shown).
/// Usage: dotnet run -c Release --project tests/Newsletter.Benchmarks -- subscribers [rows=1000000] [requests=15]
/// </summary>
public static partial class ListBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var rows = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1_000_000;
        var requests = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 15;
        Loopback.WarnIfDebug();
        var dir = Bench.Temp("subscribers");
        var data = Path.Combine(dir, "data");
        var db = await ImportBenchmark.MigratedDatabaseAsync(data);
        var seed = Stopwatch.StartNew();
        await SeedAsync(db, rows);
        Console.WriteLine($"Seeded {rows:N0} subscribers in {seed.Elapsed.TotalSeconds:F0} s; folder {dir}");

        Directory.CreateDirectory(Path.Combine(dir, "notes"));
        var url = $"http://127.0.0.1:{Loopback.FreePort()}";
        using var app = Loopback.StartApp(url, data, Path.Combine(dir, "notes"));
        try
        {
            await Loopback.WaitAsync(url + "/css/site.css");
            using var http = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false }) { BaseAddress = new Uri(url), Timeout = TimeSpan.FromMinutes(5) };
            await SignInAsync(http);

            var first = await http.GetStringAsync("/admin/subscribers");
            var deep = await DeepPageAsync(http, first, hops: 200);
            var pages = new (string Name, string Path)[]
            {
                ("first page (counts, chart, 50 rows)", "/admin/subscribers"),
                ("200 pages deep (keyset)", deep),
                ("status: bounced", "/admin/subscribers?status=bounced"),
                ("tag: early", "/admin/subscribers?tag=early"),
                ("status + tag", "/admin/subscribers?status=pending&tag=early"),
                ("search: email prefix", "/admin/subscribers?q=reader0999"),
                ("search: an address", "/admin/subscribers?q=reader0500000%40example"),
                ("search: rare name", "/admin/subscribers?q=Reader%20999999"),
                ("search: no match", "/admin/subscribers?q=nobody-like-this"),
                ("one subscriber", "/admin/subscribers/500000"),
            };
            Console.WriteLine();
            Console.WriteLine($"{"page",-38} {"p50 ms",8} {"p95 ms",8} {"max ms",8}");
            foreach (var (name, path) in pages)
            {
                var times = new List<double>();
                for (var i = 0; i < requests; i++)
                {
                    var clock = Stopwatch.StartNew();
                    using var response = await http.GetAsync(path);
                    await response.Content.ReadAsByteArrayAsync();
                    clock.Stop();
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        throw new InvalidOperationException($"{path}: {(int)response.StatusCode}");
                    }

                    times.Add(clock.Elapsed.TotalMilliseconds);
                }

                times.Sort();
                Console.WriteLine($"{name,-38} {Loopback.Median(times),8:F1} {times[(int)Math.Ceiling(times.Count * 0.95) - 1],8:F1} {times[^1],8:F1}");
            }

            var rssBefore = Bench.PeakRssBytes(app.Id);
            var export = Stopwatch.StartNew();
            using (var response = await http.GetAsync("/admin/subscribers/export.csv", HttpCompletionOption.ResponseHeadersRead))
            {
                await using var body = await response.Content.ReadAsStreamAsync();
                var buffer = new byte[1 << 16];
                long lines = 0, read;
                while ((read = await body.ReadAsync(buffer)) > 0)
                {
                    lines += buffer.AsSpan(0, (int)read).Count((byte)'\n');
                }

                Console.WriteLine();
                Console.WriteLine($"export of everyone: {lines - 1:N0} rows in {export.Elapsed.TotalSeconds:F1} s ({(lines - 1) / export.Elapsed.TotalSeconds:N0} rows/s); app peak RSS {rssBefore / 1024 / 1024} MB before, {Bench.PeakRssBytes(app.Id) / 1024 / 1024} MB after");
            }

            return 0;
        }
        finally
        {
            Loopback.Stop(app);
        }
    }

    private static async Task SignInAsync(HttpClient http)
    {
        var setup = await http.GetStringAsync("/admin/setup");
        var token = WebUtility.HtmlDecode(Token().Match(setup).Groups[1].Value);
        var created = await http.PostAsync("/admin/setup", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["Input.DisplayName"] = "Benchmark",
            ["Input.Email"] = "bench@example.org",
            ["Input.Password"] = "a long benchmark passphrase",
            ["__RequestVerificationToken"] = token,
        }));
        if (created.StatusCode != HttpStatusCode.Redirect)
        {
            throw new InvalidOperationException($"setup failed: {(int)created.StatusCode}");
        }
    }

    /// <summary>Follows "Older" links, as an author clicking through would, and returns the page reached.</summary>
    private static async Task<string> DeepPageAsync(HttpClient http, string page, int hops)
    {
        var path = "/admin/subscribers";
        for (var i = 0; i < hops; i++)
        {
            var next = Older().Match(page);
            if (!next.Success)
            {
                break;
            }

            path = WebUtility.HtmlDecode(next.Groups[1].Value);
            page = await http.GetStringAsync(path);
        }

        return path;
    }

    private static async Task SeedAsync(string dbPath, int rows)
    {
        await using var c = new SqliteConnection($"Data Source={dbPath}");
        await c.OpenAsync();
        await using (var pragma = c.CreateCommand())
        {
            pragma.CommandText = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";
            await pragma.ExecuteNonQueryAsync();
        }

        await using var insert = c.CreateCommand();
        insert.CommandText = "INSERT INTO \"Subscribers\" (\"Email\", \"EmailKey\", \"Name\", \"Status\", \"Source\", \"CreatedAt\", \"ConfirmedAt\", \"TokenVersion\") VALUES ($e, $e, $n, $s, 'bench', $c, $f, 0) RETURNING \"Id\"";
        var pe = insert.Parameters.Add("$e", SqliteType.Text);
        var pn = insert.Parameters.Add("$n", SqliteType.Text);
        var ps = insert.Parameters.Add("$s", SqliteType.Integer);
        var pc = insert.Parameters.Add("$c", SqliteType.Text);
        var pf = insert.Parameters.Add("$f", SqliteType.Text);
        await using var tag = c.CreateCommand();
        tag.CommandText = "INSERT INTO \"SubscriberTags\" (\"SubscriberId\", \"Tag\") VALUES ($id, 'early')";
        var pt = tag.Parameters.Add("$id", SqliteType.Integer);
        var start = DateTime.UtcNow.AddDays(-730);
        SqliteTransaction? tx = null;
        for (var i = 0; i < rows; i++)
        {
            if (i % 10_000 == 0)
            {
                if (tx is not null)
                {
                    await tx.CommitAsync();
                }

                tx = c.BeginTransaction();
                insert.Transaction = tx;
                tag.Transaction = tx;
            }

            // Mostly active; some pending, unsubscribed, bounced and complained, as a real list has.
            var status = (i % 100) switch { < 80 => 1, < 88 => 0, < 96 => 2, < 99 => 3, _ => 4 };
            var created = start.AddSeconds(i * (730.0 * 86400 / rows));
            pe.Value = string.Create(CultureInfo.InvariantCulture, $"reader{i:D7}@example{i % 97}.org");
            pn.Value = string.Create(CultureInfo.InvariantCulture, $"Reader {i}");
            ps.Value = status;
            pc.Value = created.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
            pf.Value = status == 0 ? DBNull.Value : created.AddHours(1).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
            var id = (long)(await insert.ExecuteScalarAsync())!;
            if (i % 3 == 0)
            {
                pt.Value = id;
                await tag.ExecuteNonQueryAsync();
            }
        }

        await tx!.CommitAsync();
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex Token();

    [GeneratedRegex("rel=\"next\" href=\"([^\"]+)\"")]
    private static partial Regex Older();
}

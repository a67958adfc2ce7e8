using System.Net;
using System.Text;
using System.Text.Json;
using Newsletter.Testing;
using Newsletter.Web.Data.Providers;

namespace Newsletter.Tests.Subscribers;

/// <summary>Imports through the real app process: the README's command-line verb, and an upload through Kestrel's own limits.</summary>
public class ImportProcessTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The app process on the tests' database: on PostgreSQL a fresh migrated database of its own.</summary>
    private static AppProcess NewApp() => new(
        TestDatabases.Default == DatabaseProvider.PostgreSql
            ? new() { ["Database__Provider"] = "PostgreSql", ["Database__ConnectionString"] = TestDatabases.CreateMigratedPostgres() }
            : null,
        sampleNotes: false);

    [Fact]
    public async Task TheImportVerbReportsWhatItDidAndSaysWhyThroughItsExitCode()
    {
        await using var app = NewApp();
        var file = Path.Combine(app.Root, "list.csv");
        await File.WriteAllTextAsync(file, "Email;Name;Tags\nada@example.org;Ada;math\ngrace@example.org;Grace;\nnot-an-address;Nobody;\n", Ct);

        var (code, output) = await app.RunVerbAsync("import-subscribers", file, "--active", "--consent", "exported from our old provider", "--tags", "imported,2026");
        Assert.True(code == 0, output);
        Assert.Contains("3 rows, 2 imported, 0 duplicates, 0 suppressed, 1 with errors.", output, StringComparison.Ordinal);
        Assert.Contains("Rows with errors: ", output, StringComparison.Ordinal);

        // Idempotent: the same file again adds nobody.
        (code, output) = await app.RunVerbAsync("import-subscribers", file, "--active", "--consent", "exported from our old provider");
        Assert.True(code == 0, output);
        Assert.Contains("0 imported, 2 duplicates", output, StringComparison.Ordinal);

        (code, output) = await app.RunVerbAsync("import-subscribers", file, "--active");
        Assert.Equal(2, code);
        Assert.Contains("--active needs --consent", output, StringComparison.Ordinal);

        var noEmail = Path.Combine(app.Root, "names.csv");
        await File.WriteAllTextAsync(noEmail, "name\nAda\n", Ct);
        (code, output) = await app.RunVerbAsync("import-subscribers", noEmail);
        Assert.Equal(1, code);
        Assert.Contains("failed: The header has no email column", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal); // a sentence, not a stack trace
    }

    [Fact]
    public async Task AHundredMegabyteUploadIsStreamedToAJobAndEveryRowIsImported()
    {
        await using var app = NewApp();
        await app.StartAsync();
        using var client = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false })
        {
            BaseAddress = new Uri(app.BaseUrl),
            Timeout = TimeSpan.FromMinutes(3),
        };
        await Forms.SetUpOwnerAsync(client);
        var token = await Forms.TokenAsync(client, "/admin/subscribers/import");
        var file = new GeneratedCsv(rows: 2_000, rowBytes: 52_000); // 104 MB, generated while it is sent
        using var form = new MultipartFormDataContent
        {
            { new StringContent(token), "__RequestVerificationToken" },
            { new StringContent("active"), "mode" },
            { new StringContent("a benchmark list"), "consent" },
            { file, "file", "big.csv" },
        };
        var response = await client.PostAsync("/admin/subscribers/import", form, Ct);
        Assert.True(response.StatusCode == HttpStatusCode.Redirect, $"{(int)response.StatusCode}: {app.Log}");

        var id = response.Headers.Location!.OriginalString.Split('/').Last();
        var deadline = DateTime.UtcNow.AddMinutes(2);
        JsonElement progress;
        do
        {
            await Task.Delay(250, Ct);
            progress = JsonDocument.Parse(await client.GetStringAsync($"/admin/api/imports/{id}", Ct)).RootElement;
            Assert.True(DateTime.UtcNow < deadline, progress.ToString());
        }
        while (!progress.GetProperty("done").GetBoolean());

        Assert.Equal("Completed", progress.GetProperty("status").GetString());
        Assert.Equal(2_000, progress.GetProperty("imported").GetInt32());
        Assert.Equal(0, progress.GetProperty("invalid").GetInt32());
        Assert.Equal(100, progress.GetProperty("percent").GetInt32());
        Assert.DoesNotContain("Exception", app.Log, StringComparison.Ordinal);
    }

    /// <summary>A CSV body written row by row as it is sent, never held in memory: email, name and a wide notes column.</summary>
    private sealed class GeneratedCsv(int rows, int rowBytes) : HttpContent
    {
        private static readonly byte[] Header = Encoding.ASCII.GetBytes("email,name,notes\n");

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(Header);
            var filler = new string('x', rowBytes);
            for (var i = 0; i < rows; i++)
            {
                await stream.WriteAsync(Row(i, filler));
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            var filler = new string('x', rowBytes);
            length = Header.Length + Enumerable.Range(0, rows).Sum(i => (long)Row(i, filler).Length);
            return true;
        }

        private static byte[] Row(int i, string filler) => Encoding.ASCII.GetBytes($"reader{i:D5}@example.org,Reader {i},{filler}\n");
    }
}

#if NEWSLETTER_WEB
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Newsletter.Testing;

/// <summary>
/// A fresh app per test: its own data folder (SQLite file, keys, pickup folder) and its own notes
/// folder, so no test sees another's data. Settings go in as host settings, which the app reads while
/// it builds, exactly like appsettings.json values or environment variables would be.
/// </summary>
public class NewsletterApp : WebApplicationFactory<Program>
{
    private readonly Dictionary<string, string?> _settings;

    public NewsletterApp(Dictionary<string, string?>? settings = null, bool sampleNotes = false)
    {
        Root = RepoPaths.TempDir("app");
        DataFolder = Path.Combine(Root, "data");
        NotesFolder = Path.Combine(Root, "notes");
        Directory.CreateDirectory(NotesFolder);
        if (sampleNotes)
        {
            foreach (var file in Directory.GetFiles(Path.Combine(RepoPaths.Root, "notes"), "*.md"))
            {
                File.Copy(file, Path.Combine(NotesFolder, Path.GetFileName(file)));
            }
        }

        _settings = new Dictionary<string, string?>
        {
            ["Data:Folder"] = DataFolder,
            ["Notes:Folder"] = NotesFolder,
            ["Jobs:Storage"] = "InMemory",
            ["Jobs:WorkerCount"] = "2",
            ["Site:BaseUrl"] = "http://localhost",
            ["Mail:Transport"] = "Pickup",
        };
        foreach (var (k, v) in settings ?? [])
        {
            _settings[k] = v;
        }
    }

    public string Root { get; }

    public string DataFolder { get; }

    public string NotesFolder { get; }

    public string PickupFolder => Path.Combine(DataFolder, "outbox");

    public void WriteNote(string fileName, string content) => File.WriteAllText(Path.Combine(NotesFolder, fileName), content);

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        builder.UseSetting("hostBuilder:reloadConfigOnChange", "false");
        foreach (var (k, v) in _settings)
        {
            builder.UseSetting(k, v);
        }
    }

    public HttpClient CreateBrowserClient() => CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            try
            {
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                Directory.Delete(Root, recursive: true);
            }
            catch (IOException)
            {
                // A file still held by a finishing background job; the temp folder is cleaned by the OS.
            }
        }
    }
}
#endif

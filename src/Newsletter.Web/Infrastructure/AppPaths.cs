namespace Newsletter.Web.Infrastructure;

/// <summary>
/// Where the app's files live. The repository root (the folder holding appsettings.json, notes/ and
/// templates/) is the app's home whether it was started with `dotnet run --project`, from a test host
/// or from a published folder, so relative paths in configuration always mean the same place.
/// </summary>
public sealed class AppPaths
{
    public AppPaths(string root, IConfiguration configuration)
    {
        Root = root;
        DataFolder = Resolve(configuration["Data:Folder"], "data");
        NotesFolder = Resolve(configuration["Notes:Folder"], "notes");
        TemplatesFolder = Resolve(configuration["Mail:TemplatesFolder"], Path.Combine("templates", "email"));
        PrivateFiles.Protect(DataFolder);
    }

    public string Root { get; }

    public string DataFolder { get; }

    public string NotesFolder { get; }

    public string TemplatesFolder { get; }

    public string DataFile(string name) => Path.Combine(DataFolder, name);

    public string Resolve(string? configured, string fallback)
    {
        var value = string.IsNullOrWhiteSpace(configured) ? fallback : configured;
        return Path.GetFullPath(Path.IsPathRooted(value) ? value : Path.Combine(Root, value));
    }

    /// <summary>
    /// Walks up from the working directory, then from the binary, to the folder with Newsletter.sln; without
    /// one (a published app), the working directory. NEWSLETTER_ROOT wins when set, for deployments that keep
    /// the binary elsewhere.
    /// </summary>
    public static string FindRoot()
    {
        var explicitRoot = Environment.GetEnvironmentVariable("NEWSLETTER_ROOT");
        if (!string.IsNullOrWhiteSpace(explicitRoot))
        {
            return Path.GetFullPath(explicitRoot);
        }

        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Newsletter.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        return Directory.GetCurrentDirectory();
    }
}

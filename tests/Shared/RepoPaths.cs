namespace Newsletter.Testing;

/// <summary>Finds the repository root (where Newsletter.sln lives) from a test's output folder.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string TempDir(string prefix)
    {
        var dir = Path.Combine(Path.GetTempPath(), "newsletter-tests", $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Newsletter.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Newsletter.sln not found above " + AppContext.BaseDirectory);
    }
}

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

    /// <summary>
    /// Deletes a folder made by <see cref="TempDir"/>, best effort (a file still held open stays for the OS's temp
    /// cleanup): the test SMTP servers keep every message they are sent, and left behind, runs of the suites filled
    /// the disk.
    /// </summary>
    public static void DeleteTempDir(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort, as above.
        }
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

using System.Diagnostics;

namespace Newsletter.Testing;

/// <summary>
/// Tests that need an outside tool (chromium, an SMTP server, PostgreSQL) skip on a laptop that lacks it,
/// but fail in CI: a skipped test there would hide a missing install step in .ci/run.
/// </summary>
public static class Requires
{
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Returns the full path of an executable on PATH (or an absolute path that exists).</summary>
    public static string Tool(string name, string installHint)
    {
        var found = Find(name);
        if (found is not null)
        {
            return found;
        }

        Missing($"'{name}' is not installed ({installHint}).");
        return null!; // unreachable: Missing always throws
    }

    /// <summary>Checks that a python module can be imported, for python-based test servers.</summary>
    public static string PythonModule(string module, string installHint)
    {
        // Debian's python first: apt installs modules (python3-aiosmtpd) for it, not for a pyenv on PATH.
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : Tool("python3", "apt-get install python3");
        using var p = Process.Start(new ProcessStartInfo(python, ["-c", $"import {module}"])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            Missing($"python module '{module}' is not installed ({installHint}).");
        }

        return python;
    }

    public static void Missing(string why)
    {
        if (InCi)
        {
            throw new InvalidOperationException($"CI=true and {why} .ci/run must install it.");
        }

        Assert.Skip(why);
    }

    public static string? Find(string name)
    {
        if (Path.IsPathRooted(name))
        {
            return File.Exists(name) ? name : null;
        }

        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Concat(["/usr/sbin", "/usr/lib/postgresql"]))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}

using System.Diagnostics;

namespace Newsletter.Testing;

/// <summary>
/// An independent DKIM verifier: Debian's python3-dkim (dkimpy) through tests/Shared/dkim_verify.py, with DNS
/// answered by the given TXT record for selector._domainkey.domain only. A laptop without it skips; CI fails.
/// </summary>
public static class DkimPy
{
    /// <summary>dkimpy's verdict on each file: "pass FILE" or "fail FILE: why".</summary>
    public static IReadOnlyList<string> Verify(string domain, string selector, string dnsRecord, IReadOnlyCollection<string> files)
    {
        var python = Requires.PythonModule("dkim", "apt-get install python3-dkim");
        var script = Path.Combine(AppContext.BaseDirectory, "Shared", "dkim_verify.py");
        if (!File.Exists(script))
        {
            script = Path.Combine(RepoPaths.Root, "tests", "Shared", "dkim_verify.py");
        }

        using var process = Process.Start(new ProcessStartInfo(python, [script, $"{selector}._domainkey.{domain}", dnsRecord, .. files])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var stderr = process.StandardError.ReadToEndAsync();
        var lines = process.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        process.WaitForExit();
        if (lines.Length != files.Count)
        {
            throw new InvalidOperationException($"dkim_verify.py answered {lines.Length} of {files.Count} files (exit {process.ExitCode}): {stderr.Result}");
        }

        return lines;
    }
}

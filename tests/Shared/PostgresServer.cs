using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Newsletter.Testing;

/// <summary>
/// A throwaway PostgreSQL cluster for one test class: Debian's initdb and pg_ctl on a free loopback port in a temp folder,
/// trust auth, fsync off. Run as the postgres user when the tests run as root (PostgreSQL refuses root). Needs only the
/// command-line tools, so any test project can use it; databases are made with psql.
/// </summary>
public sealed class PostgresServer : IDisposable
{
    private readonly string _bin;
    private readonly bool _asPostgresUser;

    private PostgresServer(string bin, string folder, int port, bool asPostgresUser)
    {
        _bin = bin;
        Folder = folder;
        Port = port;
        _asPostgresUser = asPostgresUser;
    }

    public string Folder { get; }

    public int Port { get; }

    /// <summary>Starts a cluster, or skips (fails under CI=true) when PostgreSQL is not installed.</summary>
    public static PostgresServer Start()
    {
        var bin = FindBin();
        if (bin is null)
        {
            Requires.Missing("PostgreSQL's server tools are not installed (apt-get install postgresql)");
        }

        var folder = RepoPaths.TempDir("pg");
        var asPostgresUser = Environment.UserName == "root";
        if (asPostgresUser)
        {
            Run("chown", ["-R", "postgres:postgres", folder]);
        }

        var server = new PostgresServer(bin!, folder, AppProcess.FreePort(), asPostgresUser);
        try
        {
            server.Tool("initdb", ["-D", server.Data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
            server.Tool("pg_ctl", ["-D", server.Data, "-l", Path.Combine(folder, "server.log"), "-w", "-t", "60", "start",
                "-o", $"-p {server.Port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"]);
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    private string Data => Path.Combine(Folder, "data");

    /// <summary>An Npgsql connection string for <paramref name="database"/>, created empty on first use.</summary>
    public string CreateDatabase(string database)
    {
        Tool("psql", ["-h", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", $"CREATE DATABASE \"{database}\""]);
        return $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database};Pooling=true";
    }

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(Data))
            {
                Tool("pg_ctl", ["-D", Data, "-m", "immediate", "-w", "stop"]);
            }
        }
        catch (InvalidOperationException)
        {
            // Never started; nothing to stop.
        }

        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private void Tool(string name, string[] args)
    {
        var path = Path.Combine(_bin, name);
        if (_asPostgresUser)
        {
            Run("runuser", ["-u", "postgres", "--", path, .. args]);
        }
        else
        {
            Run(path, args);
        }
    }

    private static void Run(string file, string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(120_000))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} did not finish in two minutes");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {process.ExitCode}: {output.Result} {error.Result}");
        }
    }

    private static string? FindBin()
    {
        if (!Directory.Exists("/usr/lib/postgresql"))
        {
            return null;
        }

        // The newest installed major version.
        return Directory.GetDirectories("/usr/lib/postgresql")
            .Select(d => Path.Combine(d, "bin"))
            .Where(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")))
            .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0)
            .FirstOrDefault();
    }
}

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Newsletter.Testing;

/// <summary>
/// The app as a real OS process on a real port, started the way the README starts it (the built
/// Newsletter.Web.dll, configuration from the repository root, overrides as environment variables).
/// Browser tests drive it with chromium; crash tests kill it with SIGKILL and start it again.
/// </summary>
public sealed class AppProcess : IAsyncDisposable
{
    private readonly Dictionary<string, string> _environment;
    private readonly StringBuilder _log = new();
    private Process? _process;

    public AppProcess(Dictionary<string, string>? environment = null, bool sampleNotes = true, string? root = null)
    {
        Root = root ?? RepoPaths.TempDir("proc");
        DataFolder = Path.Combine(Root, "data");
        NotesFolder = Path.Combine(Root, "notes");
        Directory.CreateDirectory(NotesFolder);
        if (sampleNotes && root is null)
        {
            foreach (var file in Directory.GetFiles(Path.Combine(RepoPaths.Root, "notes"), "*.md"))
            {
                File.Copy(file, Path.Combine(NotesFolder, Path.GetFileName(file)));
            }
        }

        Port = FreePort();
        BaseUrl = $"http://127.0.0.1:{Port}";
        _environment = new Dictionary<string, string>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Testing",
            ["DOTNET_hostBuilder__reloadConfigOnChange"] = "false",
            ["Data__Folder"] = DataFolder,
            ["Notes__Folder"] = NotesFolder,
            ["Site__BaseUrl"] = BaseUrl,
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__Newsletter"] = "Information",
        };
        foreach (var (k, v) in environment ?? [])
        {
            _environment[k] = v;
        }
    }

    public string Root { get; }

    public string DataFolder { get; }

    public string NotesFolder { get; }

    public string PickupFolder => Path.Combine(DataFolder, "outbox");

    public int Port { get; }

    public string BaseUrl { get; }

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    public int? ProcessId => _process?.Id;

    public bool HasExited => _process?.HasExited ?? true;

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The app's dll run by dotnet with <paramref name="args"/>, this app's settings and the repository as its folder.</summary>
    private ProcessStartInfo StartInfo(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Newsletter.Web.dll");
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException("The test project must reference Newsletter.Web so its build output is copied here.", dll);
        }

        var info = new ProcessStartInfo("dotnet", [dll, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepoPaths.Root,
        };
        foreach (var (k, v) in _environment)
        {
            info.Environment[k] = v;
        }

        return info;
    }

    public async Task StartAsync(TimeSpan? timeout = null)
    {
        _process = Process.Start(StartInfo("--urls", BaseUrl)) ?? throw new InvalidOperationException("dotnet did not start");
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        // The deadline holds for a start that has stopped moving. On a loaded machine a start that is still
        // working (its CPU time grows: the JIT, migrations) can take minutes, and failing it then would be the test
        // passing only on a quiet machine; a start that hangs (waiting on a lock, a port) uses no CPU and fails on time.
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(90));
        var giveUp = deadline + TimeSpan.FromMinutes(8);
        var cpu = TimeSpan.Zero;
        var moved = DateTime.UtcNow;
        while (DateTime.UtcNow < giveUp && (DateTime.UtcNow < deadline || DateTime.UtcNow - moved < TimeSpan.FromSeconds(30)))
        {
            try
            {
                if (_process.TotalProcessorTime is var used && used - cpu > TimeSpan.FromMilliseconds(100))
                {
                    (cpu, moved) = (used, DateTime.UtcNow);
                }
            }
            catch (InvalidOperationException)
            {
                // exited: said below
            }

            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The app exited with {_process.ExitCode} during start-up:\n{Log}");
            }

            try
            {
                var response = await http.GetAsync(BaseUrl + "/css/site.css");
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException)
            {
                // not answering yet
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"The app did not answer on {BaseUrl} in time:\n{Log}");
    }

    /// <summary>
    /// Runs a command-line verb (`dotnet Newsletter.Web.dll import-subscribers FILE ...`) with this app's
    /// data folder and configuration, to completion, and returns its exit code and everything it printed.
    /// </summary>
    public async Task<(int ExitCode, string Output)> RunVerbAsync(params string[] args)
    {
        using var process = Process.Start(StartInfo(args)) ?? throw new InvalidOperationException("dotnet did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>A verb with <paramref name="stdin"/> on its standard input, as an MTA's pipe transport runs process-inbound.</summary>
    public async Task<(int ExitCode, string Output)> PipeAsync(string stdin, params string[] args)
    {
        var info = StartInfo(args);
        info.RedirectStandardInput = true;
        using var process = Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(stdin);
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>
    /// SIGTERM, what `systemctl stop` and `docker stop` send: the app shuts down as it would for an operator. Waits
    /// for the exit and returns its code.
    /// </summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        if (_process is not { HasExited: false })
        {
            return _process?.ExitCode ?? 0;
        }

        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var wait = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(1));
        await _process.WaitForExitAsync(wait.Token);
        return _process.ExitCode;
    }

    /// <summary>SIGKILL: no shutdown hooks, no flushing. What a power cut or an OOM kill does.</summary>
    public void KillHard()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
    }

    public async ValueTask DisposeAsync()
    {
        KillHard();
        _process?.Dispose();
        await Task.CompletedTask;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.AppendLine(line);
        }
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Newsletter.Benchmarks;

/// <summary>wrk's numbers for one run.</summary>
public sealed record WrkResult(double RequestsPerSecond, double P50Ms, double P99Ms, long Errors, long Requests);

/// <summary>
/// What the HTTP benchmarks share: the app, nginx and a bare Kestrel as child processes on free loopback
/// ports, and wrk with its latency distribution parsed. Nothing listens beyond 127.0.0.1.
/// </summary>
public static class Loopback
{
    public const string Nginx = "/usr/sbin/nginx";
    public const string Wrk = "/usr/bin/wrk";

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Waits until something accepts connections on 127.0.0.1:<paramref name="port"/> (10 s at most).</summary>
    public static async Task WaitForPortAsync(int port)
    {
        for (var i = 0; i < 200; i++)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }

        throw new TimeoutException($"Nothing listens on 127.0.0.1:{port}.");
    }

    /// <summary>
    /// False, after saying which are missing and what to install, when a tool the benchmark needs is not there;
    /// otherwise true, after warning if this is a Debug build.
    /// </summary>
    public static bool Ready(string aptPackages, params string[] tools)
    {
        if (Missing(tools) is { Count: > 0 } missing)
        {
            Console.Error.WriteLine($"Not installed: {string.Join(", ", missing)} (apt-get install {aptPackages}).");
            return false;
        }

        WarnIfDebug();
        return true;
    }

    /// <summary>Says which of the tools a benchmark needs are missing; empty when all are there.</summary>
    public static IReadOnlyList<string> Missing(params string[] tools) => [.. tools.Where(t => !File.Exists(t))];

    /// <summary>
    /// The app as the README runs it (the built Newsletter.Web.dll from the repository root), in Production,
    /// with its data in <paramref name="dataFolder"/> and no job server (a benchmark measures requests).
    /// </summary>
    public static Process StartApp(string url, string dataFolder, string notesFolder, IDictionary<string, string>? environment = null, string? dll = null)
    {
        var info = new ProcessStartInfo("dotnet", [dll ?? Bench.WebDll, "--urls", url])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Bench.Root,
        };
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        info.Environment["Data__Folder"] = dataFolder;
        info.Environment["Notes__Folder"] = notesFolder;
        info.Environment["Site__BaseUrl"] = url;
        info.Environment["Jobs__Storage"] = "InMemory";
        info.Environment["Jobs__Server"] = "false";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[k] = v;
        }

        return Drain(Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start"));
    }

    /// <summary>
    /// The floor for an ASP.NET Core app: this benchmark's own executable as a bare Kestrel that serves
    /// <paramref name="file"/> from memory at every GET and answers a POST with a redirect (BareKestrel).
    /// </summary>
    public static Process StartBareKestrel(int port, string file)
    {
        var self = Path.Combine(AppContext.BaseDirectory, "Newsletter.Benchmarks.dll");
        var info = new ProcessStartInfo("dotnet", [self, BareKestrel.Verb, port.ToString(CultureInfo.InvariantCulture), file])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        return Drain(Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start"));
    }

    /// <summary>nginx as a foreground child serving <paramref name="files"/> (name, bytes); config, logs and temp files in <paramref name="dir"/>.</summary>
    public static Process StartNginx(string dir, int port, IEnumerable<(string Name, byte[] Bytes)> files)
    {
        var html = Path.Combine(dir, "html");
        Directory.CreateDirectory(html);
        Directory.CreateDirectory(Path.Combine(dir, "temp"));
        foreach (var (name, bytes) in files)
        {
            File.WriteAllBytes(Path.Combine(html, name), bytes);
        }

        var conf = Path.Combine(dir, "nginx.conf");
        File.WriteAllText(conf, $$"""
            worker_processes auto;
            daemon off;
            pid {{dir}}/nginx.pid;
            error_log {{dir}}/error.log warn;
            events { worker_connections 1024; }
            http {
                access_log off;
                sendfile on;
                tcp_nopush on;
                tcp_nodelay on;
                keepalive_timeout 65;
                keepalive_requests 1000000;
                open_file_cache max=16;
                client_body_temp_path {{dir}}/temp/body;
                proxy_temp_path {{dir}}/temp/proxy;
                fastcgi_temp_path {{dir}}/temp/fastcgi;
                uwsgi_temp_path {{dir}}/temp/uwsgi;
                scgi_temp_path {{dir}}/temp/scgi;
                types { text/html html; }
                server {
                    listen 127.0.0.1:{{port}};
                    root {{html}};
                }
            }
            """);
        var info = new ProcessStartInfo(Nginx, ["-c", conf, "-p", dir, "-e", Path.Combine(dir, "error.log")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        return Drain(Process.Start(info) ?? throw new InvalidOperationException("nginx did not start"));
    }

    /// <summary>Waits until <paramref name="url"/> answers 200; the stopwatch's reading then is the start-up time.</summary>
    public static async Task<TimeSpan> WaitAsync(string url, Stopwatch? since = null, TimeSpan? timeout = null)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var clock = since ?? Stopwatch.StartNew();
        var deadline = clock.Elapsed + (timeout ?? TimeSpan.FromSeconds(90));
        while (clock.Elapsed < deadline)
        {
            try
            {
                using var response = await http.GetAsync(url);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    await response.Content.ReadAsByteArrayAsync();
                    return clock.Elapsed;
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

            // Short: the interval bounds how much of a start-up time is the poll's, not the app's.
            await Task.Delay(10);
        }

        throw new TimeoutException($"{url} did not answer 200 in time");
    }

    /// <summary>Runs wrk (two threads, one for a single connection; --latency) and parses requests/s, p50, p99 and errors.</summary>
    public static async Task<WrkResult> WrkAsync(string url, int seconds, int connections, string? script = null, string? header = null)
    {
        // wrk wants at least one connection per thread: one connection means one thread.
        string[] args = [$"-t{Math.Min(2, connections)}", $"-c{connections}", $"-d{seconds}s", "--latency",
            .. script is null ? Array.Empty<string>() : ["-s", script],
            .. header is null ? Array.Empty<string>() : ["-H", header], url];
        using var p = Process.Start(new ProcessStartInfo(Wrk, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        var lines = output.Split('\n').Select(l => l.Trim()).ToList();
        double Percentile(string label) => Milliseconds(lines.Single(l => l.StartsWith(label, StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        var rps = double.Parse(lines.Single(l => l.StartsWith("Requests/sec:", StringComparison.Ordinal))["Requests/sec:".Length..].Trim(), CultureInfo.InvariantCulture);
        var requests = long.Parse(lines.Single(l => l.Contains("requests in", StringComparison.Ordinal)).Split(' ')[0], CultureInfo.InvariantCulture);
        // wrk reports non-2xx/3xx answers and socket errors only when there are some.
        var errors = lines.Where(l => l.StartsWith("Non-2xx", StringComparison.Ordinal) || l.StartsWith("Socket errors", StringComparison.Ordinal))
            .Sum(l => l.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries).Select(w => long.TryParse(w, out var v) ? v : 0).Sum());
        return new WrkResult(rps, Percentile("50%"), Percentile("99%"), errors, requests);
    }

    public static void Stop(Process? process)
    {
        if (process is { HasExited: false })
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>Warns when the numbers would come from a Debug build.</summary>
    public static void WarnIfDebug()
    {
        if (typeof(Loopback).Assembly.GetCustomAttributes(typeof(DebuggableAttribute), false).OfType<DebuggableAttribute>().Any(d => d.IsJITOptimizerDisabled))
        {
            Console.Error.WriteLine("warning: this is a Debug build; run with -c Release for numbers worth reporting.");
        }
    }

    private static double Milliseconds(string value)
    {
        var unit = value.TrimStart('0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '.');
        var number = double.Parse(value[..^unit.Length], CultureInfo.InvariantCulture);
        return unit switch
        {
            "us" => number / 1000,
            "ms" => number,
            "s" => number * 1000,
            "m" => number * 60_000,
            _ => throw new FormatException($"wrk latency '{value}'"),
        };
    }

    public static Process Drain(Process process)
    {
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        return process;
    }
}

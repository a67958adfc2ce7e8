using System.Diagnostics;
using System.Globalization;
using System.Net.Http;
using System.Net.Sockets;

namespace Newsletter.Benchmarks.Subscribers;

/// <summary>
/// The subscribe endpoint under wrk on loopback: each request is a new address, so each one inserts a
/// subscriber and enqueues a confirmation job (SQLite job storage); nothing is mailed inside the request.
/// </summary>
public static class SubscribeBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 20;
        var wrk = File.Exists("/usr/bin/wrk") ? "/usr/bin/wrk" : throw new InvalidOperationException("wrk is not installed: apt-get install wrk");
        var dir = Bench.Temp("subscribe");
        var port = FreePort();
        var info = new ProcessStartInfo("dotnet", [Bench.WebDll, "--urls", $"http://127.0.0.1:{port}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Bench.Root,
        };
        info.Environment["Data__Folder"] = dir;
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        info.Environment["Subscriptions__PerIpPerMinute"] = "100000000";
        info.Environment["Subscriptions__PerAddressPerHour"] = "100000000";
        // Workers off: this measures the request path (insert + enqueue), not the mail jobs behind it.
        info.Environment["Jobs__Server"] = "false";
        using var app = Process.Start(info)!;
        _ = app.StandardOutput.ReadToEndAsync();
        _ = app.StandardError.ReadToEndAsync();
        try
        {
            await WaitAsync($"http://127.0.0.1:{port}/css/site.css");
            var script = Path.Combine(dir, "subscribe.lua");
            await File.WriteAllTextAsync(script, """
                local counter = 0
                local thread_id = 0
                setup = function(thread) thread:set("tid", thread_id); thread_id = thread_id + 1 end
                request = function()
                  counter = counter + 1
                  local body = "email=bench" .. tid .. "x" .. counter .. "%40example.org&source=bench"
                  return wrk.format("POST", "/subscribe", {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
                end
                """);
            var output = await RunAsync(wrk, ["-t2", "-c32", $"-d{seconds}s", "--latency", "-s", script, $"http://127.0.0.1:{port}/"]);
            Console.WriteLine(output);
            var rps = output.Split('\n').FirstOrDefault(l => l.StartsWith("Requests/sec", StringComparison.Ordinal))?.Trim();
            var p99 = output.Split('\n').FirstOrDefault(l => l.TrimStart().StartsWith("99%", StringComparison.Ordinal))?.Trim();
            Console.WriteLine($"subscribe: {rps}; p99 {p99}");
            return 0;
        }
        finally
        {
            app.Kill(true);
        }
    }

    internal static int FreePort()
    {
        using var l = new TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }

    internal static async Task WaitAsync(string url)
    {
        using var http = new HttpClient();
        for (var i = 0; i < 300; i++)
        {
            try
            {
                if ((await http.GetAsync(url)).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // starting
            }

            await Task.Delay(200);
        }

        throw new TimeoutException(url);
    }

    internal static async Task<string> RunAsync(string file, string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return output;
    }
}

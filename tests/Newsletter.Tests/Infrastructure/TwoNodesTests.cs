using System.Diagnostics;
using System.Net;
using Newsletter.Testing;
using Newsletter.Tests.Content;

namespace Newsletter.Tests.Infrastructure;

/// <summary>
/// The README's plain two-node setup, for real: two app processes from the build output on two ports,
/// sharing one data folder (the SQLite database and the data-protection keys), behind nginx running the
/// repository's deploy/nginx/newsletter.conf.
/// </summary>
public class TwoNodesTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task OneSignInWorksOnBothNodesAndANotePublishedOnOneShowsOnTheOther()
    {
        var nginx = Requires.Tool("/usr/sbin/nginx", "apt-get install nginx-light");
        await using var nodeA = new AppProcess();
        await nodeA.StartAsync(TimeSpan.FromMinutes(3));
        // Started after the first has migrated, as the README says; it leaves importing notes/ to the first.
        await using var nodeB = new AppProcess(new() { ["Notes__ImportOnStartup"] = "false" }, root: nodeA.Root);
        await nodeB.StartAsync(TimeSpan.FromMinutes(3));
        using var proxy = NginxProxy.Start(nginx, Path.Combine(nodeA.Root, "nginx"), nodeA.Port, nodeB.Port);

        var cookies = new CookieContainer();
        HttpClient Client(string baseUrl) => new(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = new Uri(baseUrl) };
        using var onA = Client(nodeA.BaseUrl);
        using var onB = Client(nodeB.BaseUrl);
        using var throughProxy = Client(proxy.BaseUrl);
        using var reader = new HttpClient { BaseAddress = new Uri(nodeB.BaseUrl) };
        using var readerThroughProxy = new HttpClient { BaseAddress = new Uri(proxy.BaseUrl) };

        // Round robin: consecutive requests through the proxy reach both nodes, and both are healthy.
        for (var i = 0; i < 4; i++)
        {
            var health = await throughProxy.GetAsync("/healthz", Ct);
            Assert.True(health.StatusCode == HttpStatusCode.OK, $"{(int)health.StatusCode} {proxy.ErrorLog}");
        }

        // Signed in on A; the same cookie is an author on B, and through the proxy whichever node answers.
        Assert.Equal(HttpStatusCode.Redirect, (await onB.GetAsync("/admin", Ct)).StatusCode);
        await Forms.SetUpOwnerAsync(onA);
        Assert.True((await onB.GetAsync("/admin", Ct)).StatusCode == HttpStatusCode.OK, nodeB.Log);
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await throughProxy.GetAsync("/admin", Ct)).StatusCode);
        }

        // Readers' copies of /notes are cached on both nodes before the note exists, through the proxy and on B.
        for (var i = 0; i < 4; i++)
        {
            Assert.DoesNotContain("Balanced across nodes", await readerThroughProxy.GetStringAsync("/notes", Ct), StringComparison.Ordinal);
            Assert.DoesNotContain("Balanced across nodes", await reader.GetStringAsync("/notes", Ct), StringComparison.Ordinal);
        }

        // The form comes from B and is posted to A, as a balancer may send two requests to two nodes: the
        // antiforgery token, like the cookie, is read with the shared keys.
        var token = await Forms.TokenAsync(onB, "/admin/notes/new");
        var published = await onA.PostAsync("/admin/notes/new", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = token,
            ["Input.Title"] = "Balanced across nodes",
            ["Input.Slug"] = "balanced-across-nodes",
            ["Input.Date"] = "2026-06-01",
            ["Input.Tags"] = "deploy",
            ["Input.Summary"] = "",
            ["Input.Markdown"] = "Written on one node, read on the other.",
            ["intent"] = "publish",
        }), Ct);
        Assert.True(published.StatusCode == HttpStatusCode.Redirect, $"{(int)published.StatusCode}: {nodeA.Log}");

        // A, where it was written, drops its copies at once; B once its watcher reads the new content version.
        using var readerA = new HttpClient { BaseAddress = new Uri(nodeA.BaseUrl) };
        Assert.Contains("Balanced across nodes", await readerA.GetStringAsync("/notes", Ct), StringComparison.Ordinal);
        await ContentChangesTests.ShowsSoonAsync(reader, "/notes", "Balanced across nodes", nodeB.Log);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/notes/balanced-across-nodes", Ct)).StatusCode);
        // Then both nodes, whichever the proxy picks, serve it.
        for (var i = 0; i < 4; i++)
        {
            Assert.Contains("Balanced across nodes", await readerThroughProxy.GetStringAsync("/notes", Ct), StringComparison.Ordinal);
        }
    }

    /// <summary>nginx in the foreground with the repository's site file, its two upstreams pointed at the test's nodes.</summary>
    private sealed class NginxProxy : IDisposable
    {
        private readonly Process _process;
        private readonly string _dir;

        private NginxProxy(Process process, string dir, int port)
        {
            _process = process;
            _dir = dir;
            BaseUrl = $"http://127.0.0.1:{port}";
        }

        public string BaseUrl { get; }

        public string ErrorLog => File.Exists(Path.Combine(_dir, "error.log")) ? File.ReadAllText(Path.Combine(_dir, "error.log")) : "";

        public static NginxProxy Start(string nginx, string dir, int portA, int portB)
        {
            Directory.CreateDirectory(dir);
            var deploy = Path.Combine(RepoPaths.Root, "deploy", "nginx");
            File.Copy(Path.Combine(deploy, "proxy.inc"), Path.Combine(dir, "proxy.inc"));
            var port = AppProcess.FreePort();
            var site = File.ReadAllText(Path.Combine(deploy, "newsletter.conf"))
                .Replace("127.0.0.1:5001", $"127.0.0.1:{portA}", StringComparison.Ordinal)
                .Replace("127.0.0.1:5002", $"127.0.0.1:{portB}", StringComparison.Ordinal)
                .Replace("listen 80;", $"listen 127.0.0.1:{port};", StringComparison.Ordinal)
                .Replace("listen [::]:80;", "", StringComparison.Ordinal);
            File.WriteAllText(Path.Combine(dir, "site.conf"), site);
            var conf = Path.Combine(dir, "nginx.conf");
            File.WriteAllText(conf, $$"""
                daemon off;
                worker_processes 1;
                pid {{dir}}/nginx.pid;
                error_log {{dir}}/error.log warn;
                events { worker_connections 256; }
                http {
                    access_log off;
                    client_body_temp_path {{dir}}/body;
                    proxy_temp_path {{dir}}/proxy;
                    fastcgi_temp_path {{dir}}/fastcgi;
                    uwsgi_temp_path {{dir}}/uwsgi;
                    scgi_temp_path {{dir}}/scgi;
                    include site.conf;
                }
                """);
            var process = Process.Start(new ProcessStartInfo(nginx, ["-c", conf, "-p", dir, "-e", Path.Combine(dir, "error.log")])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            }) ?? throw new InvalidOperationException("nginx did not start");
            var proxy = new NginxProxy(process, dir, port);
            proxy.WaitUntilListening();
            return proxy;
        }

        private void WaitUntilListening()
        {
            var deadline = DateTime.UtcNow.AddSeconds(15);
            while (true)
            {
                if (_process.HasExited)
                {
                    throw new InvalidOperationException($"nginx exited with {_process.ExitCode}: {_process.StandardError.ReadToEnd()} {ErrorLog}");
                }

                try
                {
                    using var socket = new System.Net.Sockets.TcpClient();
                    socket.Connect(new Uri(BaseUrl).Host, new Uri(BaseUrl).Port);
                    return;
                }
                catch (System.Net.Sockets.SocketException) when (DateTime.UtcNow < deadline)
                {
                    Thread.Sleep(50);
                }
            }
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5_000);
            }

            _process.Dispose();
        }
    }
}

using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Newsletter.Testing;

namespace Newsletter.Tests.Webhooks;

/// <summary>One POST as the receiver saw it.</summary>
internal sealed record ReceivedWebhook(string Id, string Timestamp, string Signature, string Body, string? Authorization = null)
{
    public string Type => System.Text.Json.JsonDocument.Parse(Body).RootElement.GetProperty("type").GetString()!;
}

/// <summary>
/// A real HTTP receiver on a free loopback port (HttpListener). <see cref="Respond"/> decides each answer from
/// the request's ordinal, so a test can fail the first call, stall one on purpose, or answer slowly.
/// </summary>
internal sealed class WebhookReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentQueue<ReceivedWebhook> _received = new();
    private int _count;

    public WebhookReceiver()
    {
        Port = AppProcess.FreePort();
        Url = $"http://127.0.0.1:{Port}/hooks/";
        _listener.Prefixes.Add(Url);
        _listener.Start();
        _ = Task.Run(LoopAsync);
    }

    public int Port { get; }

    public string Url { get; }

    /// <summary>Given the 1-based ordinal of a request, what to do: a status code after an optional wait.</summary>
    public Func<int, Task<int>> Respond { get; set; } = _ => Task.FromResult(200);

    public IReadOnlyList<ReceivedWebhook> Received => [.. _received];

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (!_listener.IsListening)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
                var body = await reader.ReadToEndAsync();
                var n = Interlocked.Increment(ref _count);
                _received.Enqueue(new ReceivedWebhook(context.Request.Headers["webhook-id"] ?? "", context.Request.Headers["webhook-timestamp"] ?? "",
                    context.Request.Headers["webhook-signature"] ?? "", body, context.Request.Headers["Authorization"]));
                try
                {
                    context.Response.StatusCode = await Respond(n);
                    var answer = Encoding.UTF8.GetBytes("ok " + n);
                    await context.Response.OutputStream.WriteAsync(answer);
                    context.Response.Close();
                }
                catch (Exception)
                {
                    // The client gave up (a timeout test): nothing to answer.
                }
            });
        }
    }

    public async Task<IReadOnlyList<ReceivedWebhook>> WaitForAsync(Func<IReadOnlyList<ReceivedWebhook>, bool> done, TimeSpan? timeout = null, Func<string>? diagnostics = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (DateTime.UtcNow < deadline)
        {
            if (done(Received))
            {
                return Received;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"The receiver got {Received.Count} webhooks: {string.Join(", ", Received.Select(r => r.Id + " " + r.Type))}. {diagnostics?.Invoke()}");
    }

    /// <summary>
    /// An independent Standard Webhooks verifier, written from the spec: strip "whsec_", base64-decode the key,
    /// HMAC-SHA256 over "id.timestamp.body", compare with each space-separated "v1," signature in constant time,
    /// and refuse a timestamp more than five minutes away (a replay).
    /// </summary>
    public static bool Verify(string secret, ReceivedWebhook message, DateTimeOffset now)
    {
        if (!long.TryParse(message.Timestamp, out var ts) || Math.Abs(now.ToUnixTimeSeconds() - ts) > 300)
        {
            return false;
        }

        using var hmac = new HMACSHA256(Convert.FromBase64String(secret["whsec_".Length..]));
        var expected = hmac.ComputeHash(Encoding.UTF8.GetBytes($"{message.Id}.{message.Timestamp}.{message.Body}"));
        foreach (var part in message.Signature.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var comma = part.IndexOf(',');
            if (comma > 0 && part[..comma] == "v1" && CryptographicOperations.FixedTimeEquals(Convert.FromBase64String(part[(comma + 1)..]), expected))
            {
                return true;
            }
        }

        return false;
    }

    public void Dispose() => _listener.Close();
}

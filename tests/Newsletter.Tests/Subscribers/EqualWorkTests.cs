using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Subscribers;

namespace Newsletter.Tests.Subscribers;

/// <summary>
/// The public forms that take an address must not tell, by how long they take, whether it is on the list. Time
/// is not measured here (a busy machine would make that a coin toss): the database statements each request runs
/// are recorded instead, and a known address must run exactly the statements a new one runs.
/// </summary>
public sealed class EqualWorkTests : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // Statements run on behalf of one request, found by the trace id the request carried in its traceparent.
    private readonly ConcurrentDictionary<ActivityTraceId, ConcurrentQueue<string>> _statements = new();
    private readonly ActivityListener _activities;
    private readonly IDisposable _listeners;

    public EqualWorkTests()
    {
        // ASP.NET Core makes a request's Activity (with the caller's trace id) only when someone listens.
        _activities = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
        };
        ActivitySource.AddActivityListener(_activities);
        _listeners = DiagnosticListener.AllListeners.Subscribe(new Observer<DiagnosticListener>(listener =>
        {
            if (listener.Name == DbLoggerCategory.Name)
            {
                listener.Subscribe(new Observer<KeyValuePair<string, object?>>(e =>
                {
                    if (e.Value is CommandExecutedEventData executed && Activity.Current is { } activity
                        && _statements.TryGetValue(activity.TraceId, out var list))
                    {
                        list.Enqueue(executed.Command.CommandText);
                    }
                }));
            }
        }));
    }

    public void Dispose()
    {
        _listeners.Dispose();
        _activities.Dispose();
    }

    private async Task<IReadOnlyList<string>> StatementsOfAsync(Func<string, Task<HttpResponseMessage>> send)
    {
        var trace = ActivityTraceId.CreateRandom();
        var list = _statements.GetOrAdd(trace, _ => new ConcurrentQueue<string>());
        var response = await send($"00-{trace}-{ActivitySpanId.CreateRandom()}-01");
        Assert.True(response.StatusCode is HttpStatusCode.Accepted or HttpStatusCode.OK, $"{(int)response.StatusCode}");
        // The limiter's housekeeping (dropping expired windows) runs now and then, whoever asks: not the address's work.
        return [.. list.Where(c => !c.StartsWith("DELETE FROM \"RateLimitWindows\"", StringComparison.Ordinal))];
    }

    [Fact]
    public async Task SubscribeRunsTheSameStatementsForANewAPendingAnActiveAnUnsubscribedASuppressedAndALimitedAddress()
    {
        using var app = new NewsletterApp(new() { ["Subscriptions:PerAddressPerHour"] = "2", ["Subscriptions:PerIpPerMinute"] = "100", ["Subscriptions:ResendConfirmationInterval"] = "00:00:00" });
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var readers = scope.ServiceProvider.GetRequiredService<ReaderLifecycle>();
            await readers.AddByAuthorAsync("active@example.org", null, [], "test", "admin", Ct);
            await readers.AddByAuthorAsync("pending@example.org", null, [], null, "admin", Ct);
            var (_, gone) = await readers.AddByAuthorAsync("gone@example.org", null, [], "test", "admin", Ct);
            await readers.UnsubscribeAsync(gone, "test", Ct);
            var (_, erased) = await readers.AddByAuthorAsync("erased@example.org", null, [], "test", "admin", Ct);
            await readers.DeleteAsync(erased, erase: true, Ct);
        }

        var client = app.CreateClient();
        Task<HttpResponseMessage> Subscribe(string email, string traceparent)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/subscribe") { Content = JsonContent.Create(new { email }) };
            request.Headers.Add("traceparent", traceparent);
            return client.SendAsync(request, Ct);
        }

        // An address that used up its hour: its sign-ups are dropped when taken, after a request like any other's.
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsJsonAsync("/subscribe", new { email = "limited@example.org" }, Ct)).StatusCode);
        }

        await app.WaitForMailAsync("limited@example.org", count: 2);

        var fresh = await StatementsOfAsync(t => Subscribe("new@example.org", t));
        Assert.NotEmpty(fresh); // the listener works: the client's limit is counted in the database
        foreach (var known in new[] { "active@example.org", "pending@example.org", "gone@example.org", "erased@example.org", "new@example.org", "limited@example.org" })
        {
            Assert.Equal(fresh, await StatementsOfAsync(t => Subscribe(known, t)));
        }
    }

    [Fact]
    public async Task ThePreferencesLinkFormRunsTheSameStatementsForAReaderAndForAStranger()
    {
        using var app = new NewsletterApp();
        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<ReaderLifecycle>().AddByAuthorAsync("reader@example.org", null, [], "test", "admin", Ct);
        }

        var client = app.CreateBrowserClient();
        async Task<HttpResponseMessage> AskForLink(string email, string traceparent)
        {
            var token = await Forms.TokenAsync(client, "/preferences");
            var request = new HttpRequestMessage(HttpMethod.Post, "/preferences?handler=Link")
            {
                Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["email"] = email, ["__RequestVerificationToken"] = token }),
            };
            request.Headers.Add("traceparent", traceparent);
            return await client.SendAsync(request, Ct);
        }

        var stranger = await StatementsOfAsync(t => AskForLink("stranger@example.org", t));
        Assert.NotEmpty(stranger);
        Assert.Equal(stranger, await StatementsOfAsync(t => AskForLink("reader@example.org", t)));
        await app.WaitForMailAsync("reader@example.org");
    }

    private sealed class Observer<T>(Action<T> next) : IObserver<T>
    {
        public void OnCompleted()
        {
        }

        public void OnError(Exception error)
        {
        }

        public void OnNext(T value) => next(value);
    }
}

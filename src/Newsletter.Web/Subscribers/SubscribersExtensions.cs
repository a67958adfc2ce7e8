using System.Net;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Subscribers;

public static class SubscribersExtensions
{
    public static WebApplicationBuilder AddSubscribers(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<SubscriptionOptions>().Bind(builder.Configuration.GetSection("Subscriptions"))
            // One environment variable (Subscriptions__Topics=rust,queues) is a single value, which the binder drops
            // for a list without a word: read it as the comma-separated list it was meant to be.
            .PostConfigure(o =>
            {
                if (o.Topics.Count == 0 && builder.Configuration["Subscriptions:Topics"] is { Length: > 0 } joined)
                {
                    o.Topics = [.. joined.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
                }
            })
            .ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<SubscriberTokens>();
        builder.Services.AddScoped<ReaderLifecycle>();
        builder.Services.AddSharedRateLimiter();
        builder.Services.AddScoped<TopicCatalog>();
        builder.Services.AddScoped<SubscriberMailJob>();
        builder.Services.AddScoped<ReaderData>();
        // Kept for sign-up jobs queued by a version before the writer, which must still run after an upgrade.
        builder.Services.AddScoped<SignUpJob>();
        builder.Services.AddSingleton<SignUpSignal>();
        builder.Services.AddSingleton<SignUpWriter>();
        builder.Services.AddScoped<PendingMails>();
        if (builder.Configuration.GetValue("Jobs:Server", true))
        {
            builder.Services.AddHostedService<SignUpDispatcher>();
        }

        builder.Services.AddSingleton<SubscribeReceipts>();
        builder.Services.AddMailRequestLimits();
        builder.Services.AddScoped<Import.SubscriberImporter>();
        builder.Services.AddScoped<Import.ImportConfirmationsJob>();
        builder.Services.AddHostedService<Import.ImportRecovery>();
        builder.Services.AddMemoryCache();
        return builder;
    }

    public static WebApplication MapSubscribers(this WebApplication app)
    {
        // No antiforgery: the form sits on cached public pages, and double opt-in makes a forged
        // subscribe harmless (it only sends a confirmation the owner of the address can ignore).
        app.MapPost("/subscribe", SubscribeAsync)
            .DisableAntiforgery()
            .WithMetadata(new RequestSizeLimitAttribute(16 * 1024));
        // Reached by a reload, Back, or a typed address after a sign-up: the form, not a 405 error page.
        app.MapGet("/subscribe", () => Results.Redirect("/#subscribe"));
        app.MapSubscribersAdmin();
        return app;
    }

    /// <summary>
    /// Who a request counts against: the IPv4 address, or the /64 of an IPv6 one, since one IPv6 customer
    /// usually holds a whole /64 and could otherwise take a fresh address for every request.
    /// </summary>
    public static string ClientKey(IPAddress? address)
    {
        var ip = address ?? IPAddress.Loopback;
        if (ip.IsIPv4MappedToIPv6)
        {
            ip = ip.MapToIPv4();
        }

        if (ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            return ip.ToString();
        }

        var bytes = ip.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes) + "/64";
    }

    private static async Task<IResult> SubscribeAsync(HttpContext http, SignUpWriter writer, TopicCatalog catalog, TimeProvider clock, ILoggerFactory loggers, CancellationToken ct)
    {
        var logger = loggers.CreateLogger("Newsletter.Subscribers");
        var isJson = http.Request.HasJsonContentType();
        SubscribeRequest? request;
        // What is wrong with the request, if anything; said only once its client's permit is taken.
        string? problem = null;
        try
        {
            // The body is read before the client's permit is taken, since both are taken in the writer's one
            // commit; it is 16 KB at most, and the permit is counted for every request all the same.
            request = isJson
                ? await http.Request.ReadFromJsonAsync<SubscribeRequest>(ct)
                : http.Request.HasFormContentType ? SubscribeRequest.From(await http.Request.ReadFormAsync(ct)) : null;
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            // Answered here with a body: re-executing an error page would try to read the oversized form again.
            return Results.Text("That request was too large. A subscription needs only an email address.", "text/plain", statusCode: StatusCodes.Status413PayloadTooLarge);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException or BadHttpRequestException)
        {
            request = null;
            problem = "The request body could not be read.";
            logger.LogDebug(e, "Unreadable subscribe request");
        }

        var email = "";
        if (request is null)
        {
            problem ??= "Send a form or JSON body with an 'email' field.";
        }
        else if (!string.IsNullOrEmpty(request.Website))
        {
            // A filled honeypot is a bot: answer exactly as for a person, do nothing.
            logger.LogInformation("Honeypot filled on subscribe; ignored");
        }
        else if (!Newsletter.Mail.EmailAddress.TryNormalize(request.Email ?? "", out email, out var error))
        {
            problem = error;
        }
        else if (!Newsletter.Mail.EmailAddress.IsPublicDomain(email))
        {
            problem = "That address is on a private domain that can't receive mail from the internet. Use your public address.";
        }

        var signUp = request is null || problem is not null || !string.IsNullOrEmpty(request.Website) ? null : new SignUp
        {
            Email = email,
            Name = ReaderLifecycle.CleanName(request.Name),
            Source = SubscribeRequest.CleanSource(request.Source),
            // Only topics the form offers are kept; anything else a client sends is dropped, never stored.
            Topics = catalog.ChosenOnSignUp(request.Topics).ToArray() is { Length: > 0 } topics ? string.Join('\n', topics) : null,
            ReceivedAt = clock.GetUtcNow().UtcDateTime,
        };
        // The address's hourly limit is counted where its mail is decided (ReaderLifecycle), not here.
        var permit = await writer.SubmitAsync(SubscribersExtensions.ClientKey(http.Connection.RemoteIpAddress), signUp);
        if (permit == MailPermit.ClientLimited)
        {
            return TooMany(http, isJson);
        }

        if (problem is not null)
        {
            return Problem(http, isJson, problem, request?.Email);
        }

        if (signUp is not null && !isJson)
        {
            // The page after the redirect says the same whatever the address, and whatever its hourly limit
            // will say when the sign-up is taken: one over it is dropped then, without a word to anyone.
            http.RequestServices.GetRequiredService<SubscribeReceipts>().Note(http, email);
        }

        return Accepted(isJson);
    }

    /// <summary>
    /// Over this client's limit: when it may ask again (Retry-After, in seconds, which a script can wait for), and to a
    /// JSON client in the problem+json its other errors come in, where a bare status was answered with the HTML error page.
    /// </summary>
    private static IResult TooMany(HttpContext http, bool json)
    {
        var limit = http.RequestServices.GetRequiredService<IOptions<SubscriptionOptions>>().Value.PerIpLimit;
        http.Response.Headers.RetryAfter = http.RequestServices.GetRequiredService<SharedRateLimiter>().RetryAfter(limit);
        return json
            ? Results.Problem($"This network may ask for {limit.Permits} sign-ups a minute. Try again after the number of seconds in Retry-After.", statusCode: StatusCodes.Status429TooManyRequests, title: "Too many requests")
            : Results.StatusCode(StatusCodes.Status429TooManyRequests);
    }

    private static IResult Accepted(bool json) => json
        ? Results.Json(new { status = "check-your-inbox", message = "If the address can receive mail, a confirmation is on its way." }, statusCode: StatusCodes.Status202Accepted)
        : Results.Redirect("/subscribe/check-your-inbox", permanent: false, preserveMethod: false);

    /// <summary>The flash key the check-your-inbox page reads: only the app writes it, never a link.</summary>
    public const string ErrorFlash = "SubscribeError";

    /// <summary>The address as typed, for the form on the error page: the reader corrects it rather than retyping it.</summary>
    public const string TypedFlash = "SubscribeTyped";

    private static IResult Problem(HttpContext http, bool json, string message, string? typed = null)
    {
        if (json)
        {
            return Results.Problem(message, statusCode: StatusCodes.Status400BadRequest, title: "Invalid subscription");
        }

        // In TempData, not the query: a link with ?error=... must not put an attacker's words on our page.
        var flash = http.RequestServices.GetRequiredService<Microsoft.AspNetCore.Mvc.ViewFeatures.ITempDataDictionaryFactory>().GetTempData(http);
        flash[ErrorFlash] = message;
        if (!string.IsNullOrEmpty(typed))
        {
            flash[TypedFlash] = typed.Length > 254 ? typed[..254] : typed;
        }

        flash.Save();
        return Results.Redirect("/subscribe/check-your-inbox");
    }
}

public sealed class SubscribeRequest
{
    public string? Email { get; set; }

    public string? Name { get; set; }

    public string? Source { get; set; }

    /// <summary>The honeypot field.</summary>
    public string? Website { get; set; }

    /// <summary>Topics ticked on the form (Subscriptions:Topics); unknown ones are ignored.</summary>
    public List<string?>? Topics { get; set; }

    public static SubscribeRequest From(IFormCollection form) => new()
    {
        Email = form["email"],
        Name = form["name"],
        Source = form["source"],
        Website = form["website"],
        Topics = [.. form["topics"]],
    };

    public static string CleanSource(string? source)
    {
        var s = new string([.. (source ?? "").Where(c => char.IsAsciiLetterOrDigit(c) || c == '-').Take(40)]);
        // A form can't claim to be an author's add: those sources keep a reader out of the welcome series.
        return s.Length == 0 || !ReaderLifecycle.SignedUpOnTheSite(s) ? "web" : s;
    }
}

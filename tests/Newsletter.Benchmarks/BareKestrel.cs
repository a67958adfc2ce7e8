using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Newsletter.Benchmarks;

/// <summary>
/// The baseline server: the same runtime and the same host defaults as the app (WebApplication.CreateBuilder,
/// Kestrel), with nothing of ours. GET answers with one file's bytes from memory; POST reads the form and
/// redirects, like the subscribe endpoint does. What the app costs beyond this is the app's own.
/// </summary>
public static class BareKestrel
{
    public const string Verb = "bare-kestrel";

    public static async Task<int> RunAsync(string[] args)
    {
        var port = int.Parse(args[0], CultureInfo.InvariantCulture);
        var bytes = await File.ReadAllBytesAsync(args[1]);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [] });
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
        app.MapGet("/{**path}", () => Results.Bytes(bytes, "text/html; charset=utf-8"));
        app.MapPost("/{**path}", async (HttpRequest request) =>
        {
            var form = await request.ReadFormAsync();
            return Results.Redirect("/done?" + form.Count.ToString(CultureInfo.InvariantCulture));
        });
        await app.RunAsync();
        return 0;
    }
}

using Hangfire;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Newsletter.Mail;
using Newsletter.Web.Admin;
using Newsletter.Web.Data;
using Newsletter.Web.Issues;
using OpenTelemetry.Metrics;

namespace Newsletter.Web.Sending;

public static class SendingExtensions
{
    public static WebApplicationBuilder AddSending(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<SendingOptions>().Bind(builder.Configuration.GetSection("Sending"))
            .Validate(o => !o.Problems().Any(), "Sending settings are not usable: see the start-up error").ValidateOnStart();
        var problems = builder.Configuration.GetSection("Sending").Get<SendingOptions>()?.Problems().ToList() ?? [];
        if (problems.Count > 0)
        {
            throw new SettingsException(string.Join(" ", problems));
        }
        builder.Services.AddScoped<IssueComposer>();
        builder.Services.AddScoped<IssueEditor>();
        builder.Services.AddScoped<IssuePreviews>();
        builder.Services.AddScoped<Ledger>();
        builder.Services.AddSingleton<OutcomeWriter>();
        builder.Services.AddScoped<Segments.Audiences>();
        builder.Services.AddScoped<IssueSender>();
        builder.Services.AddScoped<IssueMessages>();
        builder.Services.AddScoped<IssueProgress>();
        builder.Services.AddScoped<SendWorker>();
        builder.Services.AddSingleton<SendNode>();
        builder.Services.AddSingleton<SendSignal>();
        if (builder.Configuration.GetValue("Jobs:Server", true))
        {
            // A node that runs jobs also sends: its heartbeat keeps its leases, its workers join every send.
            builder.Services.AddHostedService<SendNodeHeartbeat>();
            builder.Services.AddSingleton<SendWorkers>();
            builder.Services.AddHostedService(sp => sp.GetRequiredService<SendWorkers>());
        }

        builder.Services.AddScoped<TestSendJob>();
        builder.Services.AddScoped<TestSends>();
        builder.Services.AddScoped<Reconciler>();
        builder.Services.AddSingleton<SendingMetrics>();
        builder.Services.AddSingleton<VerpAddresses>();
        builder.Services.AddSingleton<MessageIds>();
        builder.Services.AddScoped<InboundMail>();
        builder.Services.AddHostedService<ReconcilerRegistration>();
        // Counters for sent, failed, deferred and rate, scraped by Prometheus at /metrics (Operations/Metrics.cs).
        builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(SendingMetrics.MeterName));
        return builder;
    }

    public static WebApplication MapSending(this WebApplication app)
    {
        // Bounces, complaints, mailto unsubscribes and readers' replies, posted raw by the MTA that receives them (see the README's
        // "Bounces"). Off until Sending:InboundSecret is set; the secret is the only way in.
        app.MapPost("/api/inbound", async (HttpContext http, InboundMail inbound, IOptions<SendingOptions> options, CancellationToken ct) =>
        {
            var secret = options.Value.InboundSecret;
            if (string.IsNullOrEmpty(secret))
            {
                return Results.NotFound();
            }

            var given = http.Request.Headers.Authorization.ToString();
            if (!System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
                System.Text.Encoding.UTF8.GetBytes(given), System.Text.Encoding.UTF8.GetBytes("Bearer " + secret)))
            {
                return Results.Unauthorized();
            }

            // Buffered first: MimeKit's parser reads synchronously, which Kestrel refuses on a request body.
            var (message, problem) = await InboundMail.ParseAsync(http.Request.Body, ct);
            if (message is null)
            {
                return Results.BadRequest(new { error = problem });
            }

            var result = await inbound.ProcessAsync(message, "http", ct);
            return Results.Ok(new { kind = result.Kind.ToString(), delivery = result.DeliveryId, subscriber = result.SubscriberId, detail = result.Detail });
        }).WithMetadata(new RequestSizeLimitAttribute(InboundMail.MaxMessageBytes), new Site.RawBody()).DisableAntiforgery();

        // Made now, not at the first send: the rate and relay gauges exist from start, so an alert on
        // newsletter_relay_failing_seconds sees 0 on an idle node rather than no series at all.
        _ = app.Services.GetRequiredService<SendingMetrics>();
        var admin = app.MapGroup("/admin/api").RequireAuthorization(AdminExtensions.AuthorPolicy);
        admin.MapGet("/issues/{id:int}/progress", async (int id, AppDbContext db, IssueProgress progress, CancellationToken ct) =>
        {
            var issue = await db.Issues.AsNoTracking().Where(i => i.Id == id).Select(i => new { i.Status, i.PausedReason }).FirstOrDefaultAsync(ct);
            if (issue is null)
            {
                return Results.NotFound();
            }

            return Results.Ok(ProgressReport.From(issue.Status, issue.PausedReason, await progress.ReadAsync(id, issue.Status, ct)));
        });

        // Who got what (LedgerExport): an erased reader shows as erased; their row stays, their address doesn't.
        // Every recipient's address: owners only, written down like the reader export.
        admin.MapGet("/issues/{id:int}/deliveries.csv", async (int id, HttpContext http, AppDbContext db, Audit.AuditLog audit, CancellationToken ct) =>
        {
            var slug = await db.Issues.AsNoTracking().Where(i => i.Id == id).Select(i => i.Slug).FirstOrDefaultAsync(ct);
            if (slug is null)
            {
                http.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }

            await audit.IssueAsync(http.User, Audit.AuditActions.LedgerExport, id, "delivery ledger (CSV)", ct);
            http.Response.ContentType = "text/csv; charset=utf-8";
            http.Response.Headers.ContentDisposition = $"attachment; filename=\"deliveries-{slug}.csv\"";
            await LedgerExport.WriteCsvAsync(db, id, http.Response.Body, ct);
        }).RequireAuthorization(AdminExtensions.OwnerPolicy);
        return app;
    }
}

/// <summary>Registers the reconciler as a recurring job at start-up and runs it once right away, so a restart picks up at once.</summary>
public sealed class ReconcilerRegistration(IRecurringJobManager recurring, IBackgroundJobClient jobs, IConfiguration configuration, IHostApplicationLifetime lifetime, ILogger<ReconcilerRegistration> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var interval = configuration.GetValue("Sending:ReconcileInterval", TimeSpan.FromMinutes(1));
        var cron = interval < TimeSpan.FromMinutes(1) ? $"*/{Math.Max(1, (int)interval.TotalSeconds)} * * * * *" : Cron.Minutely();
        Jobs.RecurringAtStart.Register("The reconciler's recurring job", () => recurring.AddOrUpdate<Reconciler>(Reconciler.RecurringJobId, r => r.RunAsync(CancellationToken.None), cron),
            logger, lifetime.ApplicationStopping);
        jobs.Enqueue<Reconciler>(r => r.RunAsync(CancellationToken.None));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

using Newsletter.Web.Admin;
using Newsletter.Web.Api;
using Newsletter.Web.Archive;
using Newsletter.Web.Charts;
using Newsletter.Web.Digests;
using Newsletter.Web.Images;
using Newsletter.Web.Infrastructure;
using Newsletter.Web.Jobs;
using Newsletter.Web.Mail;
using Newsletter.Web.Replies;
using Newsletter.Web.Sending;
using Newsletter.Web.Notes;
using Newsletter.Web.Operations;
using Newsletter.Web.PostsImport;
using Newsletter.Web.Site;
using Newsletter.Web.SocialCards;
using Newsletter.Web.Subscribers;
using Newsletter.Web.Tracking;
using Newsletter.Web.Webhooks;
using Newsletter.Web.Welcome;

// Before any thread allocates natively: SQLite's memory in two malloc arenas, not one per busy thread; and what
// it frees given back to the system every few seconds, not kept in the process.
MallocArenas.Limit();
MallocArenas.TrimEvery(TimeSpan.FromSeconds(5));
// A setting that stops the start says which and exits 78, instead of an unhandled exception's stack and abort.
StartFailure.SayWhyWhenSettingsStopTheStart();
// Only the configuration words: a verb's own (a path like /tmp/backup) would be read as configuration switches.
var builder = WebApplication.CreateBuilder(VerbArguments.ConfigurationOf(args));

// The repository root is the app's home: appsettings.json, notes/, templates/ and data/ live there.
var paths = builder.AddNewsletterConfiguration();

builder.AddData(paths);
builder.AddNotes();
builder.AddImages();
builder.AddAuthors();
builder.AddApi();
builder.AddJobs(paths);
builder.AddMail(paths);
builder.AddSubscribers();
// Posts from Substack, Ghost or any feed, brought in as past issues or notes after a preview.
builder.AddPostImport();
builder.AddSending();
// Recurring issues written from the notes published since the last one.
builder.AddDigests(paths);
// A welcome series: notes or written emails sent to each new reader, step by step, through a ledger of its own.
builder.AddWelcome();
// Readers' replies: kept from the pipe, the endpoint or an IMAP mailbox, answered and published from the admin.
builder.AddReplies();
builder.AddPublicSite();
builder.AddArchive();
builder.AddCharts();
// PNG link-preview cards per note and issue, drawn once and kept in the data folder.
builder.AddSocialCards();
// Off by default: per-link click counters for sent issues, with nothing stored about the reader.
builder.AddTracking();
// Signed webhooks from an outbox the database's triggers fill in the same transaction as each change.
builder.AddWebhooks();
// For the operator: health probes, Prometheus metrics, and settings worth fixing, said once at start.
builder.AddHealth();
builder.AddMetrics();
builder.AddStartupWarnings();

var app = builder.Build();

// Command-line verbs (import-notes, import-subscribers, backup, restore...) run against the same services, then exit.
if (await CommandLine.TryRunAsync(app, args))
{
    return;
}

// Before the host starts, so a wrong setting stops it before a migration or an import.
StartFailure.CheckSettings(app.Services);

app.UsePublicSite();
// Per-token rate limits and body limits for /api/v1, after the token is known.
app.UseApi();
app.MapAdmin();
app.MapJobsDashboard();
app.MapSubscribers();
app.MapSending();
app.MapMailPreviews();
app.MapArchive();
app.MapImages();
app.MapSocialCards();
app.MapTracking();
app.MapPublicSite();
app.MapHealth();
app.MapMetrics();
app.MapApi();

await app.RunAsync();

/// <summary>Exposed for WebApplicationFactory in the tests.</summary>
public partial class Program;

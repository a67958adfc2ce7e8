using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Testing;
using Newsletter.Web.Data;
using Newsletter.Web.Digests;
using Newsletter.Web.Notes;

namespace Newsletter.Tests.Digests;

/// <summary>Makes digests and notes through the app's own editors, and runs a digest at a chosen moment.</summary>
internal static class DigestFixture
{
    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A zone with summer time, so "the author's hour" is not just UTC.</summary>
    public const string Zone = "Europe/Amsterdam";

    public static async Task<Digest> AddDigestAsync(NewsletterApp app, DigestInput input)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var result = await scope.ServiceProvider.GetRequiredService<DigestEditor>().SaveAsync(null, input, Ct);
        Assert.True(result.Saved, string.Join("; ", result.Errors.Select(e => $"{e.Key}: {e.Value}")));
        return result.Digest!;
    }

    public static DigestInput Weekly(string name = "Weekly notes", DigestMode mode = DigestMode.Approval, string? topic = null, bool fullText = false) => new()
    {
        Name = name,
        Cadence = DigestCadence.Weekly,
        Weekday = DayOfWeek.Monday,
        Hour = 9,
        Mode = mode,
        Topic = topic,
        FullText = fullText,
        Intro = "What I wrote down this week.",
    };

    public static async Task<Note> AddNoteAsync(NewsletterApp app, string title, string markdown = "Some **thinking** in public.", string tags = "", bool publish = true)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var result = await scope.ServiceProvider.GetRequiredService<NoteEditor>().SaveAsync(null,
            new NoteInput { Title = title, Markdown = markdown, Tags = tags, Date = DateTime.UtcNow.Date }, publish ? NoteIntent.Publish : NoteIntent.Save, Ct);
        Assert.Equal(NoteEditOutcome.Saved, result.Outcome);
        return result.Note!;
    }

    /// <summary>The digest's next occurrence after the real now, as the digests page shows it.</summary>
    public static async Task<DateTime> NextRunAsync(NewsletterApp app, int digestId)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var sp = scope.ServiceProvider;
        var digest = await sp.GetRequiredService<AppDbContext>().Digests.AsNoTracking().FirstAsync(d => d.Id == digestId, Ct);
        return sp.GetRequiredService<DigestEditor>().NextRun(digest) ?? throw new InvalidOperationException("No calendar run.");
    }

    /// <summary>Calls the job's method as Hangfire would at <paramref name="utc"/>, in a scope of its own.</summary>
    public static async Task<DigestRunResult> RunAtAsync(NewsletterApp app, int digestId, DateTime utc, Action<DigestRunner>? arrange = null)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var runner = scope.ServiceProvider.GetRequiredService<DigestRunner>();
        arrange?.Invoke(runner);
        return await runner.RunAtAsync(digestId, utc, Ct);
    }

    public static async Task<T> QueryAsync<T>(NewsletterApp app, Func<AppDbContext, Task<T>> query)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await query(scope.ServiceProvider.GetRequiredService<AppDbContext>());
    }
}

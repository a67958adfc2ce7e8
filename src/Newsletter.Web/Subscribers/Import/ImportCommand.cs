using System.Data.Common;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Subscribers.Import;

/// <summary>
/// `import-subscribers FILE [--active --consent TEXT] [--tags a,b]`: the same import as the admin's upload,
/// run in this process so the shell sees the result and the exit code.
/// </summary>
public static class ImportCommand
{
    public static async Task<int> RunAsync(VerbArguments args, IServiceProvider services)
    {
        // The arguments' shape (one file, known options with their values) was checked before this runs.
        var file = VerbArguments.ExistingFile(args.Argument(0)!, out var missing);
        if (file is null)
        {
            Console.Error.WriteLine($"import-subscribers: {missing}");
            return 1;
        }

        var active = args.Flags.Contains("--active");
        var consent = args.Option("--consent");
        if (active && string.IsNullOrWhiteSpace(consent))
        {
            Console.Error.WriteLine("import-subscribers: --active needs --consent \"where they agreed\".");
            return 2;
        }

        try
        {
            return await ImportAsync(file, active, consent, args, services);
        }
        catch (Exception e) when (DatabaseBusy.Is(e))
        {
            // Another process holds the database (a backup, the app's own import): a sentence and EX_TEMPFAIL, as
            // process-inbound says it, not a stack trace. Rows already in stay; the same command run again skips them.
            Console.Error.WriteLine($"import-subscribers: the database is busy or not answering ({e.GetBaseException().Message}). The import stopped; run the same command again in a moment: rows already imported are skipped as duplicates.");
            return 75;
        }
    }

    private static async Task<int> ImportAsync(string file, bool active, string? consent, VerbArguments args, IServiceProvider services)
    {
        var db = services.GetRequiredService<AppDbContext>();
        var importer = services.GetRequiredService<SubscriberImporter>();
        await using var content = File.OpenRead(file);
        // Recorded like an upload, then run here instead of on a Hangfire worker.
        var files = services.GetRequiredService<ImportFiles>();
        var import = await SubscriberImporter.StoreAsync(db, files, content, Path.GetFileName(file), active, consent, args.Option("--tags"), default);
        // No author signs in at a shell; the audit log still says a list came in, from where, and on what consent.
        await services.GetRequiredService<Audit.AuditLog>().RecordByAppAsync($"the import-subscribers command, run as {Environment.UserName} on {Environment.MachineName}",
            Audit.AuditActions.ReadersImport, "import", import.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
            SubscriberImporter.AuditDetail(Path.GetFileName(file), active, consent), default);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            await importer.ImportAsync(import, default);
        }
        catch (Exception e) when (e is CsvFormatException or IOException or DbException && !DatabaseBusy.Is(e))
        {
            // Recorded on the import already; the shell gets the sentence, not a stack trace.
            Console.Error.WriteLine($"Import {import.Id} failed: {e.Message}");
            return 1;
        }

        if (import.Platform is not null)
        {
            Console.WriteLine($"Import {import.Id}: {import.Platform} export ({import.Mapping})");
        }

        Console.WriteLine($"Import {import.Id}: {import.Rows:N0} rows, {import.Imported:N0} imported, {import.Duplicates:N0} duplicates, {import.Suppressed:N0} suppressed, {import.Invalid:N0} with errors.");
        if (import.NotMailed > 0)
        {
            Console.WriteLine($"{import.NotMailed:N0} of them left {import.Platform} (unsubscribed, bounced or complained): kept in that state, never mailed.");
        }
        Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"Took {clock.Elapsed.TotalSeconds:F2} s ({import.Rows / Math.Max(clock.Elapsed.TotalSeconds, 0.001):F0} rows/s)."));
        if (import.Invalid > 0)
        {
            // On PostgreSQL the file is in the database, so the admin's import page is where it is found.
            Console.WriteLine($"Rows with errors: {files.LocalPath(SubscriberImporter.ErrorsName(import.Id)) ?? $"the admin's import page, /admin/subscribers/imports/{import.Id}"}");
        }

        return 0;
    }

}

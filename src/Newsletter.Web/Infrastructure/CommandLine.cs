using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Notes;

namespace Newsletter.Web.Infrastructure;

/// <summary>
/// `dotnet run --project src/Newsletter.Web -- VERB`. Verbs share the app's configuration and services,
/// so a file imported from the shell is the same as one imported at start-up.
/// </summary>
public static class CommandLine
{
    public static async Task<bool> TryRunAsync(WebApplication app, string[] args)
    {
        // Configuration switches may come before the verb and after it; the verb's own words are checked before
        // anything is touched, so a typo neither migrates a database nor imports with an option lost.
        var command = VerbArguments.Parse(args, out var refused);
        if (refused is not null)
        {
            Console.Error.WriteLine(refused);
            Environment.ExitCode = 2;
            return true;
        }

        if (command is null)
        {
            return false;
        }

        var verb = command.Verb;
        if (verb == "help")
        {
            Console.WriteLine(VerbArguments.Help);
            return true;
        }

        if (verb is "backup" or "restore")
        {
            // Before the migration below: a backup copies the files as they are, a restore wants an empty data folder.
            Environment.ExitCode = await Operations.Backup.RunAsync(command, app.Services);
            return true;
        }

        var namedFile = verb switch
        {
            "import-subscribers" => command.Argument(0),
            "import-posts" when !(Uri.TryCreate(command.Argument(0), UriKind.Absolute, out var url) && url.Scheme is "http" or "https") => command.Argument(0),
            _ => null,
        };
        if (namedFile is not null && VerbArguments.ExistingFile(namedFile, out var missingFile) is null)
        {
            // Before the migration below, which would make (and migrate) a database in a data folder the command
            // was perhaps pointed at by mistake, only to say the file is not there.
            Console.Error.WriteLine($"{verb}: {missingFile}");
            Environment.ExitCode = 1;
            return true;
        }

        await using var scope = app.Services.CreateAsyncScope();
        var services = scope.ServiceProvider;
        var db = services.GetRequiredService<AppDbContext>();
        if (verb == "process-inbound")
        {
            try
            {
                if (await MissingDatabaseAsync(db) is { } missing)
                {
                    // An MTA's pipe runs this with whatever folder and environment it has. Without NEWSLETTER_ROOT or the
                    // app's settings it found no database, and migrating would make an empty one to record the bounce in,
                    // exit 0, and lose it. EX_TEMPFAIL keeps the message queued until the pipe is set up right.
                    Console.Error.WriteLine($"{missing}: not the app's data. Set NEWSLETTER_ROOT (and the app's Data:Folder or Database:ConnectionString) for this command as the app has them; the message stays with the mail server.");
                    Environment.ExitCode = 75;
                    return true;
                }

                await DatabaseMigrator.MigrateAsync(db, services.GetRequiredService<Subscribers.AddressHashes>(), services.GetRequiredService<ILogger<DatabaseMigrator>>(), CancellationToken.None);
            }
            catch (Exception e) when (IsUnreachable(e))
            {
                // The database is down or refuses the connection: exactly the case EX_TEMPFAIL is for. A crash
                // (exit 134) may be read by the mail server as a permanent failure, and the bounce or reply bounced.
                Console.Error.WriteLine($"The database could not be reached, try again later: {e.Message}");
                Environment.ExitCode = 75;
                return true;
            }
        }
        else
        {
            await DatabaseMigrator.MigrateAsync(db, services.GetRequiredService<Subscribers.AddressHashes>(), services.GetRequiredService<ILogger<DatabaseMigrator>>(), CancellationToken.None);
        }

        switch (verb)
        {
            case "migrate":
                // The job store's schema too (Hangfire's on PostgreSQL, our jobs.db on SQLite): made by its first use
                // otherwise, and nodes started together on a fresh database raced to CREATE SCHEMA "hangfire", one of
                // them logging a duplicate-key failure, although the README says `migrate` runs first so they never race.
                _ = services.GetRequiredService<global::Hangfire.JobStorage>();
                Console.WriteLine("Database is up to date.");
                break;
            case "import-notes":
                var result = await services.GetRequiredService<NoteImporter>().ImportAsync();
                Console.WriteLine($"Imported notes: {result}");
                foreach (var error in result.Errors)
                {
                    Console.Error.WriteLine(error);
                }

                Environment.ExitCode = result.Errors.Count == 0 ? 0 : 1;
                break;
            case "export-notes":
                foreach (var path in await services.GetRequiredService<NoteExporter>().ExportAsync())
                {
                    Console.WriteLine($"Wrote {path}");
                }

                break;
            case "process-inbound":
                // For an MTA's pipe transport: one message on stdin. Anything not ours is ignored (exit 0, or the MTA
                // would bounce a bounce); only a fault of ours asks it to try again later (EX_TEMPFAIL).
                try
                {
                    using var stdin = Console.OpenStandardInput();
                    var (message, problem) = await Sending.InboundMail.ParseAsync(stdin, CancellationToken.None);
                    if (message is null)
                    {
                        Console.Error.WriteLine($"Not read: {problem}");
                        break;
                    }

                    var inbound = await services.GetRequiredService<Sending.InboundMail>().ProcessAsync(message, CancellationToken.None);
                    Console.WriteLine($"{inbound.Kind}: {inbound.Detail}");
                }
                catch (Exception e) when (e is DbUpdateException or DbException or IOException)
                {
                    Console.Error.WriteLine($"Could not record it, try again later: {e.Message}");
                    Environment.ExitCode = 75;
                }

                break;
            case "import-subscribers":
                Environment.ExitCode = await Subscribers.Import.ImportCommand.RunAsync(command, services);
                break;
            case "import-posts":
                Environment.ExitCode = await PostsImport.PostImportCommand.RunAsync(command, services);
                break;
        }

        return true;
    }

    /// <summary>A connection that could not be made or was lost: a database down, restarting or out of connections.</summary>
    private static bool IsUnreachable(Exception e) =>
        e is DbException or IOException or System.Net.Sockets.SocketException or TimeoutException
        || (e.InnerException is { } inner && IsUnreachable(inner));

    /// <summary>Where the app's database should be and is not: no SQLite file, or a PostgreSQL database with no migration applied.</summary>
    private static async Task<string?> MissingDatabaseAsync(AppDbContext db)
    {
        if (db.Database.IsSqlite())
        {
            var file = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(db.Database.GetConnectionString()).DataSource;
            return file is ":memory:" or "" || File.Exists(file) ? null : $"No database at {Path.GetFullPath(file)}";
        }

        return (await db.Database.GetAppliedMigrationsAsync()).Any() ? null : "The PostgreSQL database has no tables yet";
    }
}

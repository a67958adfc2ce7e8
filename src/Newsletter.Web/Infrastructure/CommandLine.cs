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
        // A verb comes first; everything after it (and any --switch before it) is configuration.
        var verb = args.Length > 0 && !args[0].StartsWith('-') && !args[0].Contains('=') ? args[0] : null;
        if (verb is null)
        {
            return false;
        }

        if (verb is "backup" or "restore")
        {
            // Before the migration below: a backup copies the files as they are, a restore wants an empty data folder.
            Environment.ExitCode = await Operations.Backup.RunAsync(verb, args, app.Services);
            return true;
        }

        await using var scope = app.Services.CreateAsyncScope();
        var services = scope.ServiceProvider;
        var db = services.GetRequiredService<AppDbContext>();
        await DatabaseMigrator.MigrateAsync(db, services.GetRequiredService<Subscribers.AddressHashes>(), services.GetRequiredService<ILogger<DatabaseMigrator>>(), CancellationToken.None);
        switch (verb)
        {
            case "migrate":
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
                Environment.ExitCode = await Subscribers.Import.ImportCommand.RunAsync(args, services);
                break;
            case "import-posts":
                Environment.ExitCode = await PostsImport.PostImportCommand.RunAsync(args, services);
                break;
            default:
                Console.Error.WriteLine($"Unknown command '{verb}'. Commands: migrate, import-notes, export-notes, import-subscribers FILE [--active --consent TEXT] [--tags a,b], import-posts FILE|URL [--as issues|notes] [--dry-run], process-inbound (one message on stdin), backup [FOLDER|FILE], restore FILE.");
                Environment.ExitCode = 2;
                break;
        }

        return true;
    }

}

using System.Diagnostics;
using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Infrastructure;
using Newsletter.Web.Jobs;

namespace Newsletter.Web.Operations;

/// <summary>
/// `backup [FOLDER|FILE.tar.gz]` and `restore FILE.tar.gz`: one dated archive (tar.gz, mode 0600) holding a
/// consistent copy of the SQLite databases (app data, then jobs), the key folder (data-protection keys and
/// older key files), notes/ and the email templates, made while the app keeps serving; and its way back into
/// a data folder that holds nothing yet. On PostgreSQL the database is pg_dump's job: the archive then has
/// the files only, and the command says so.
/// </summary>
/// <remarks>
/// Each database is copied with SQLite's online backup API in one step: one read transaction, so the copy is
/// the database as of one moment, and in WAL mode the app's writers never wait for it. The jobs are copied
/// before the app data: every job then names rows the data copy has, so a restored job can never act on a
/// reader who did not exist when it was made (ids are reused). Jobs enqueued between the two copies are lost,
/// which the tables allow for: the reconciler re-creates every due send.
/// </remarks>
public static class Backup
{
    private const int Format = 1;
    private const string ManifestName = "manifest.json";
    private const string AppDatabaseEntry = "data/newsletter.db";
    private const string JobsDatabaseEntry = "data/jobs.db";
    private const string KeysPrefix = "data/keys/";

    /// <summary>Uploaded images on one host (on PostgreSQL they are rows, in the dump).</summary>
    private const string MediaPrefix = "data/media/";
    private const string NotesPrefix = "notes/";
    private const string TemplatesPrefix = "templates/";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static async Task<int> RunAsync(VerbArguments command, IServiceProvider services)
    {
        var verb = command.Verb;
        var target = command.Argument(0);
        var places = Places.From(services);
        try
        {
            if (verb == "backup")
            {
                return await CreateAsync(places, target);
            }

            if (target is null)
            {
                Console.Error.WriteLine("restore: name the archive, e.g. restore newsletter-backup-20260101T120000Z.tar.gz");
                return 2;
            }

            return await RestoreAsync(places, target);
        }
        catch (Exception e) when (e is BackupException or IOException or UnauthorizedAccessException or SqliteException or InvalidDataException or FormatException or JsonException)
        {
            // The sentence, not a stack trace; the exit code tells a cron job or a script.
            Console.Error.WriteLine($"{verb} failed: {e.Message}");
            return 1;
        }
    }

    private static async Task<int> CreateAsync(Places places, string? target)
    {
        var clock = Stopwatch.StartNew();
        var name = $"newsletter-backup-{DateTime.UtcNow:yyyyMMdd'T'HHmmss'Z'}.tar.gz";
        // A name ending in .tar.gz is the archive's; anything else is a folder for it, made when missing.
        var archive = Path.GetFullPath(target is null ? name
            : target.EndsWith(".tar.gz", StringComparison.OrdinalIgnoreCase) && !Directory.Exists(target) ? target : Path.Combine(target, name));
        if (File.Exists(archive))
        {
            throw new BackupException($"{archive} exists; choose another name (a backup never overwrites one).");
        }

        var folder = Path.GetDirectoryName(archive)!;
        Directory.CreateDirectory(folder);
        // The copies wait beside the archive, on the disk the operator chose for it, never in a small /tmp.
        var staging = Path.Combine(folder, $".{name}.{Environment.ProcessId}.staging");
        var partial = archive + ".partial";
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(staging);
        }
        else
        {
            Directory.CreateDirectory(staging, PrivateFiles.Folder);
        }

        try
        {
            var databases = new List<(string Entry, string File)>();
            var report = new List<string>();
            if (places.Jobs.Kind == JobStorageKind.Sqlite && !File.Exists(places.Jobs.SqlitePath) && places.AppDatabase is { } data && File.Exists(data))
            {
                // `migrate` or `import-notes` alone make the app's database; the jobs' is made when the app first
                // serves. Nothing is lost by leaving it out: a restore starts with no jobs, and the app makes them.
                report.Add($"jobs: no database yet at {places.Jobs.SqlitePath} (the app has not served here), left out");
            }
            else if (places.Jobs.Kind == JobStorageKind.Sqlite)
            {
                report.Add(CopyDatabase(places.Jobs.SqlitePath, Path.Combine(staging, "jobs.db"), "jobs"));
                databases.Add((JobsDatabaseEntry, Path.Combine(staging, "jobs.db")));
            }

            if (places.AppDatabase is { } appDatabase)
            {
                report.Add(CopyDatabase(appDatabase, Path.Combine(staging, "newsletter.db"), "app data"));
                databases.Add((AppDatabaseEntry, Path.Combine(staging, "newsletter.db")));
            }

            var manifest = new Manifest(Format, DateTimeOffset.UtcNow, places.Provider.ToString(), places.Jobs.Kind.ToString(), [.. databases.Select(d => d.Entry)]);
            var files = 0;
            await using (var stream = CreatePrivate(partial))
            {
                await using (var gzip = new GZipStream(stream, CompressionLevel.Fastest, leaveOpen: true))
                await using (var tar = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: true))
                {
                    await WriteAsync(tar, ManifestName, new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(manifest, Json)), DateTimeOffset.UtcNow);
                    foreach (var (entry, file) in databases)
                    {
                        await WriteFileAsync(tar, entry, file);
                    }

                    var keys = await WriteFolderAsync(tar, KeysPrefix, Path.Combine(places.DataFolder, "keys"));
                    var notes = await WriteFolderAsync(tar, NotesPrefix, places.NotesFolder);
                    var templates = await WriteFolderAsync(tar, TemplatesPrefix, places.TemplatesFolder);
                    var media = await WriteFolderAsync(tar, MediaPrefix, Path.Combine(places.DataFolder, "media"));
                    report.Add($"keys: {keys} files; notes: {notes} files; templates: {templates} files; images: {media} files");
                    files = keys + notes + templates + media + databases.Count;
                }

                // On the disk before its name says it is complete: a crash leaves a .partial, never a short archive.
                stream.Flush(flushToDisk: true);
            }

            File.Move(partial, archive);
            foreach (var line in report)
            {
                Console.WriteLine(line);
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Wrote {archive} ({Megabytes(new FileInfo(archive).Length)}, {files} files) in {clock.Elapsed.TotalSeconds:F1} s."));
            if (places.Provider == DatabaseProvider.PostgreSql)
            {
                Console.WriteLine("The app data is in PostgreSQL (Database:Provider), not in this archive: back it up with pg_dump beside it, e.g.");
                Console.WriteLine("  pg_dump --format=custom --file=newsletter-$(date -u +%Y%m%dT%H%M%SZ).dump \"host=... dbname=newsletter user=newsletter\"");
            }

            return 0;
        }
        finally
        {
            File.Delete(partial);
            Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>The database at <paramref name="source"/> as of one moment, into <paramref name="copy"/>, checked before it is archived.</summary>
    private static string CopyDatabase(string source, string copy, string what)
    {
        if (!File.Exists(source))
        {
            throw new BackupException($"The {what} database {source} does not exist: is this the data folder the app uses?");
        }

        var clock = Stopwatch.StartNew();
        // ReadWrite, not ReadWriteCreate: a wrong path fails instead of leaving an empty database behind.
        using (var from = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = source, Mode = SqliteOpenMode.ReadWrite, Pooling = false, DefaultTimeout = 30 }.ToString()))
        using (var to = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = copy, Pooling = false }.ToString()))
        {
            from.Open();
            to.Open();
            // Microsoft.Data.Sqlite retries a busy database only for its own commands; the backup API would fail
            // at once with "database is locked" while the running app writes. SQLite's own busy handler waits.
            using (var wait = from.CreateCommand())
            {
                wait.CommandText = "PRAGMA busy_timeout = 30000";
                wait.ExecuteNonQuery();
            }

            from.BackupDatabase(to);
            using var check = to.CreateCommand();
            check.CommandText = "PRAGMA quick_check";
            if (check.ExecuteScalar() as string is not "ok" and var problem)
            {
                throw new BackupException($"The copy of the {what} database does not pass SQLite's quick_check ({problem}); the archive was not written.");
            }
        }

        return string.Create(CultureInfo.InvariantCulture, $"{what}: {Megabytes(new FileInfo(copy).Length)} copied in {clock.Elapsed.TotalSeconds:F2} s");
    }

    private static async Task<int> RestoreAsync(Places places, string archive)
    {
        if (!File.Exists(archive))
        {
            throw new BackupException($"{archive} does not exist.");
        }

        // First the whole archive is read and every destination checked, so a truncated archive or a file in the
        // way stops the restore before it has written anything.
        var clock = Stopwatch.StartNew();
        Dictionary<string, string?> plan;
        try
        {
            plan = await PlanAsync(places, archive);
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException or FormatException)
        {
            throw new BackupException($"{archive} is damaged or cut short ({e.Message}); nothing was written.");
        }

        var written = new List<string>();
        string? restoring = null;
        try
        {
            await using var stream = File.OpenRead(archive);
            await using var gzip = new GZipStream(stream, CompressionMode.Decompress);
            using var tar = new TarReader(gzip);
            while (await tar.GetNextEntryAsync() is { } entry)
            {
                if (!plan.TryGetValue(entry.Name, out var destination) || destination is null || entry.DataStream is null)
                {
                    continue;
                }

                Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
                restoring = destination + ".restoring";
                await using (var file = CreatePrivate(restoring))
                {
                    await entry.DataStream.CopyToAsync(file);
                    file.Flush(flushToDisk: true);
                }

                if (entry.Name.StartsWith("data/", StringComparison.Ordinal) && entry.Name.EndsWith(".db", StringComparison.Ordinal))
                {
                    // The archive's gzip and tar are checked as it is read, its databases were not: a damaged page
                    // restored "fine" and failed later, in the app.
                    QuickCheck(restoring, entry.Name);
                }

                File.Move(restoring, destination);
                written.Add(destination);
                restoring = null;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or BackupException or InvalidDataException or SqliteException)
        {
            // A disk that fills half-way left a data folder that a second try refused as not empty, and that the
            // app started on as a new, empty installation beside the restored jobs. What was written goes again.
            foreach (var file in written.Append(restoring).OfType<string>().SelectMany(f => new[] { f, f + "-wal", f + "-shm", f + "-journal" }))
            {
                try
                {
                    File.Delete(file);
                }
                catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
                {
                    Console.Error.WriteLine($"Could not remove {file} ({cleanup.Message}): remove it before trying again.");
                }
            }

            var why = e is BackupException ? e.Message : $"The restore stopped ({e.Message}).";
            throw new BackupException($"{why} The {written.Count} files it had written were removed again, so the folders are as they were: fix that and run restore again.");
        }

        PrivateFiles.Protect(places.DataFolder);
        foreach (var (part, folder) in new[] { ("data/", places.DataFolder), (NotesPrefix, places.NotesFolder), (TemplatesPrefix, places.TemplatesFolder) })
        {
            var entries = plan.Where(p => p.Key.StartsWith(part, StringComparison.Ordinal)).ToList();
            Console.WriteLine($"{part.TrimEnd('/')}: {entries.Count(e => e.Value is not null)} files into {folder}" + (entries.Any(e => e.Value is null) ? $" ({entries.Count(e => e.Value is null)} already there or left out)" : ""));
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Restored {written.Count} files from {Path.GetFullPath(archive)} in {clock.Elapsed.TotalSeconds:F1} s."));
        if (places.Provider == DatabaseProvider.PostgreSql)
        {
            Console.WriteLine("The app data is in PostgreSQL: restore it from its pg_dump file into an empty database before the app starts, e.g.");
            Console.WriteLine("  pg_restore --no-owner --dbname=\"host=... dbname=newsletter user=newsletter\" newsletter-....dump");
        }

        return 0;
    }

    private static void QuickCheck(string database, string name)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = database, Mode = SqliteOpenMode.ReadWrite, Pooling = false }.ToString());
        connection.Open();
        using var check = connection.CreateCommand();
        check.CommandText = "PRAGMA quick_check";
        if (check.ExecuteScalar() as string is not "ok" and var problem)
        {
            throw new BackupException($"The archive's {name} does not pass SQLite's quick_check ({problem}): the archive is damaged.");
        }
    }

    /// <summary>Where each entry goes (null: an identical file is already there), or a BackupException that says what is in the way.</summary>
    private static async Task<Dictionary<string, string?>> PlanAsync(Places places, string archive)
    {
        if (Directory.Exists(places.DataFolder) && Directory.EnumerateFiles(places.DataFolder, "*", SearchOption.AllDirectories).FirstOrDefault() is { } existing)
        {
            throw new BackupException($"The data folder {places.DataFolder} is not empty (it holds {Path.GetRelativePath(places.DataFolder, existing)}, among others): "
                + "restore only into an empty one, so nothing is overwritten. Move it aside, or point Data:Folder at a new folder.");
        }

        var plan = new Dictionary<string, string?>(StringComparer.Ordinal);
        var conflicts = new List<string>();
        Manifest? manifest = null;
        await using var stream = File.OpenRead(archive);
        await using var gzip = new GZipStream(stream, CompressionMode.Decompress);
        using var tar = new TarReader(gzip);
        while (await tar.GetNextEntryAsync() is { } entry)
        {
            if (manifest is null)
            {
                manifest = entry.Name == ManifestName && entry.DataStream is not null
                    ? await JsonSerializer.DeserializeAsync<Manifest>(entry.DataStream, Json)
                    : null;
                if (manifest?.Format != Format)
                {
                    throw new BackupException($"{archive} is not a backup this version can restore (no manifest of format {Format} first).");
                }

                CheckProviders(manifest, places);
                continue;
            }

            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null)
            {
                throw new BackupException($"{archive} holds {entry.Name}, which is not a plain file: not an archive this command made.");
            }

            var destination = Destination(places, manifest, entry.Name)
                ?? throw new BackupException($"{archive} holds {entry.Name}, which has no place in this installation: not an archive this command made.");
            if (destination.Length == 0)
            {
                plan[entry.Name] = null; // the jobs of another kind of job storage: left out, said below
                continue;
            }

            if (File.Exists(destination) || File.Exists(destination + "-wal"))
            {
                // notes/ and templates/ may hold the same files already (a fresh install's copy): those are fine.
                if (entry.Name.StartsWith(NotesPrefix, StringComparison.Ordinal) || entry.Name.StartsWith(TemplatesPrefix, StringComparison.Ordinal))
                {
                    if (await SameAsync(entry.DataStream, destination))
                    {
                        plan[entry.Name] = null;
                        continue;
                    }
                }

                conflicts.Add(destination);
                continue;
            }

            plan[entry.Name] = destination;
        }

        if (manifest is null)
        {
            throw new BackupException($"{archive} is empty.");
        }

        if (conflicts.Count > 0)
        {
            throw new BackupException($"{conflicts.Count} file(s) of the archive would overwrite different files: {string.Join(", ", conflicts.Take(5))}"
                + (conflicts.Count > 5 ? ", ..." : "") + ". Move them aside (or empty those folders) and run restore again; nothing was written.");
        }

        if (manifest.Databases.Contains(JobsDatabaseEntry) && places.Jobs.Kind != JobStorageKind.Sqlite)
        {
            Console.WriteLine($"Not restoring the jobs database: Jobs:Storage is {places.Jobs.Kind}. Due sends are re-created by the reconciler.");
        }

        CheckWritable(plan.Values.OfType<string>());
        return plan;
    }

    /// <summary>
    /// Every folder the restore writes into takes a file from this user. Found while writing, a folder owned by
    /// another user (notes/ left to root by an install, restored as the service's user) stopped the restore with the
    /// databases already in place, and a second try was then refused for a data folder no longer empty.
    /// </summary>
    private static void CheckWritable(IEnumerable<string> destinations)
    {
        var refused = new List<string>();
        foreach (var folder in destinations.Select(d => Path.GetDirectoryName(d)!).Distinct(StringComparer.Ordinal))
        {
            // The nearest folder that exists is where the missing ones will be made; a file there is in the way.
            var existing = folder;
            while (!Directory.Exists(existing) && !File.Exists(existing) && Path.GetDirectoryName(existing) is { } parent)
            {
                existing = parent;
            }

            if (File.Exists(existing))
            {
                refused.Add(existing + " (a file, where a folder should be)");
                continue;
            }

            var probe = Path.Combine(existing, $".restore-probe-{Environment.ProcessId}");
            try
            {
                using (File.Create(probe, 1, FileOptions.DeleteOnClose))
                {
                }
            }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException)
            {
                refused.Add(existing);
            }
        }

        if (refused.Count > 0)
        {
            throw new BackupException($"This user ({Environment.UserName}) can't write into {string.Join(", ", refused.Distinct(StringComparer.Ordinal))}: "
                + "run restore as the user the app runs as, after giving it those folders (chown), or move what is in the way. Nothing was written.");
        }
    }

    private static void CheckProviders(Manifest manifest, Places places)
    {
        var fromSqlite = manifest.Databases.Contains(AppDatabaseEntry);
        if (fromSqlite && places.Provider != DatabaseProvider.Sqlite)
        {
            throw new BackupException("The archive holds a SQLite database, but Database:Provider is PostgreSql here; there is no copy from SQLite to PostgreSQL. Restore with Database:Provider=Sqlite.");
        }

        if (!fromSqlite && places.Provider == DatabaseProvider.Sqlite)
        {
            throw new BackupException($"The archive was made with Database:Provider={manifest.DatabaseProvider}: it holds no database. Restore the pg_dump with pg_restore and set Database:Provider=PostgreSql.");
        }
    }

    /// <summary>The file an entry goes to; "" for one to leave out; null for a name that has no place (or tries to leave its folder).</summary>
    private static string? Destination(Places places, Manifest manifest, string name)
    {
        if (name == AppDatabaseEntry && manifest.Databases.Contains(name))
        {
            return places.AppDatabase;
        }

        if (name == JobsDatabaseEntry && manifest.Databases.Contains(name))
        {
            return places.Jobs.Kind == JobStorageKind.Sqlite ? places.Jobs.SqlitePath : "";
        }

        foreach (var (prefix, folder) in new[] { (KeysPrefix, Path.Combine(places.DataFolder, "keys")), (MediaPrefix, Path.Combine(places.DataFolder, "media")), (NotesPrefix, places.NotesFolder), (TemplatesPrefix, places.TemplatesFolder) })
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal))
            {
                var root = Path.GetFullPath(folder) + Path.DirectorySeparatorChar;
                var path = Path.GetFullPath(Path.Combine(root, name[prefix.Length..]));
                return path.StartsWith(root, StringComparison.Ordinal) ? path : null;
            }
        }

        return null;
    }

    private static async Task<bool> SameAsync(Stream entry, string file)
    {
        using var archived = System.Security.Cryptography.SHA256.Create();
        var a = await archived.ComputeHashAsync(entry);
        await using var onDisk = File.OpenRead(file);
        var b = await System.Security.Cryptography.SHA256.HashDataAsync(onDisk);
        return a.AsSpan().SequenceEqual(b);
    }

    private static async Task<int> WriteFolderAsync(TarWriter tar, string prefix, string folder)
    {
        if (!Directory.Exists(folder))
        {
            return 0;
        }

        var count = 0;
        foreach (var file in Directory.EnumerateFiles(folder, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }).Order(StringComparer.Ordinal))
        {
            await WriteFileAsync(tar, prefix + Path.GetRelativePath(folder, file).Replace(Path.DirectorySeparatorChar, '/'), file);
            count++;
        }

        return count;
    }

    /// <summary>A plain file entry, whatever the source is (a symbolic link is followed): restore writes contents, never links.</summary>
    private static async Task WriteFileAsync(TarWriter tar, string entry, string file)
    {
        await using var content = File.OpenRead(file);
        await WriteAsync(tar, entry, content, File.GetLastWriteTimeUtc(file));
    }

    private static async Task WriteAsync(TarWriter tar, string entry, Stream content, DateTimeOffset modified)
    {
        var item = new PaxTarEntry(TarEntryType.RegularFile, entry)
        {
            DataStream = content,
            ModificationTime = modified,
            Mode = PrivateFiles.File,
        };
        await tar.WriteEntryAsync(item);
    }

    /// <summary>A new file only its owner can read (0600), whatever the umask: backups hold every reader's address and the keys.</summary>
    private static FileStream CreatePrivate(string path)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 1 << 16 };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = PrivateFiles.File;
        }

        return new FileStream(path, options);
    }

    private static string Megabytes(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:F1} MB");

    /// <summary>Where this installation keeps what a backup holds, from the same settings the app runs with.</summary>
    private sealed record Places(DatabaseProvider Provider, string? AppDatabase, JobStorageSettings Jobs, string DataFolder, string NotesFolder, string TemplatesFolder)
    {
        public static Places From(IServiceProvider services)
        {
            var paths = services.GetRequiredService<AppPaths>();
            var settings = DatabaseSettings.From(services.GetRequiredService<IConfiguration>());
            var appDatabase = settings.Provider == DatabaseProvider.Sqlite
                ? Path.GetFullPath(new SqliteConnectionStringBuilder(ProviderServices.ConnectionString(settings, paths.DataFile("newsletter.db"))).DataSource)
                : null;
            return new Places(settings.Provider, appDatabase, services.GetRequiredService<JobStorageSettings>(), paths.DataFolder, paths.NotesFolder, paths.TemplatesFolder);
        }
    }

    private sealed record Manifest(int Format, DateTimeOffset CreatedAt, string DatabaseProvider, string JobStorage, IReadOnlyList<string> Databases);

    private sealed class BackupException(string message) : Exception(message);
}

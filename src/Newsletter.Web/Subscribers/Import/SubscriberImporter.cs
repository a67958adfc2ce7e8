using System.Data.Common;
using System.Globalization;
using System.Text;
using Hangfire;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Infrastructure;

namespace Newsletter.Web.Subscribers.Import;

/// <summary>
/// Streams a CSV file into the list. Every rule of an import lives here: the header map, address and date
/// validation, names, tags and consent, per-row errors written with their line numbers to an errors CSV the
/// author can download, counts and progress committed with each batch, recovery after a restart. Only the
/// writing of valid rows is the database's (Data/Providers/SubscriberImportWriter.cs): a prepared INSERT per
/// row on SQLite, a binary COPY and one merge per batch on PostgreSQL, both deduping by address (within the
/// file and against the list), keeping suppressed addresses out and recording an Imported line in each new
/// reader's history in the same transaction.
/// </summary>
public sealed class SubscriberImporter(AppDbContext db, AddressHashes hashes, SubscriberImportWriter writer, ImportFiles files, IBackgroundJobClient jobs, TimeProvider clock, ILogger<SubscriberImporter> logger)
{
    // What the last committed batch left in the database; a failure reports these, not the rolled-back batch.
    private (int Imported, int Duplicates, int Suppressed, int NotMailed) _committed;

    // The reason given for a row holding bytes that are not UTF-8 (U+FFFD after decoding); a file that legitimately
    // holds U+FFFD was damaged before it reached us.
    private const string NotUtf8 = "the row is not UTF-8 (Excel's plain \"CSV\" saves Windows-1252): save the file as \"CSV UTF-8\" and import it again";

    private static readonly string[] EmailNames = ["email", "emailaddress", "e-mail", "mail", "eMail"];
    private static readonly string[] NameNames = ["name", "fullname", "displayname"];
    private static readonly string[] FirstNames = ["firstname", "givenname"];
    private static readonly string[] LastNames = ["lastname", "surname", "familyname"];
    private static readonly string[] TagNames = ["tags", "tag", "labels", "topics"];
    private static readonly string[] SubscribedNames = ["subscribed", "subscribedat", "created", "createdat", "signupdate", "optin", "optindate", "date"];
    private static readonly string[] ConfirmedNames = ["confirmed", "confirmedat", "confirmationdate", "doubleoptin"];
    private static readonly string[] StatusNames = ["status", "state", "subscriptionstatus", "subscriberstatus", "memberstatus"];
    private static readonly string[] LeftNames = ["unsubscribed", "unsubscribedat", "unsubscribedate", "leftat", "cancelledat", "canceledat"];

    /// <summary>The largest CSV an author may upload, in the admin or through the API.</summary>
    public const long MaxUploadBytes = 1L << 30;

    /// <summary>The uploaded file's name among the <see cref="ImportFiles"/>, kept until the import has read it.</summary>
    public static string UploadName(int importId) => $"{importId}.csv";

    /// <summary>The refused rows' file, with line numbers and reasons, kept for the author to download.</summary>
    public static string ErrorsName(int importId) => $"{importId}.errors.csv";

    /// <summary>An import as the audit log says it, the same from the admin, the API and the command line.</summary>
    public static string AuditDetail(string fileName, bool active, string? consent) =>
        $"{fileName}, {(active ? "as active (consent: " + consent + ")" : "asking each reader to confirm")}";

    /// <summary>
    /// An erase takes the address out of what imports kept: the refused rows' files (a row refused for a bad status
    /// or tag still names the person) and an import's error sentence (a header refused quotes the first line).
    /// Returns how many files and imports were changed. Lines are matched without regard to case.
    /// </summary>
    public static async Task<int> ForgetAddressAsync(AppDbContext db, ImportFiles files, string email, CancellationToken ct)
    {
        var changed = 0;
        foreach (var name in (await files.ListAsync("", ct)).Where(n => n.EndsWith(".errors.csv", StringComparison.Ordinal)))
        {
            string text;
            await using (var read = await files.OpenReadAsync(name, ct))
            {
                if (read is null)
                {
                    continue;
                }

                using var reader = new StreamReader(read, Encoding.UTF8);
                text = await reader.ReadToEndAsync(ct);
            }

            if (!text.Contains(email, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var kept = string.Concat(text.Split('\n').Where(l => l.Length > 0 && !l.Contains(email, StringComparison.OrdinalIgnoreCase)).Select(l => l + "\n"));
            await files.SaveAsync(name, new MemoryStream(new UTF8Encoding(false).GetBytes(kept)), ct);
            changed++;
        }

        foreach (var import in await db.SubscriberImports.Where(i => i.Error != null && i.Error.Contains("@")).ToListAsync(ct))
        {
            if (import.Error!.Contains(email, StringComparison.OrdinalIgnoreCase))
            {
                import.Error = import.Error.Replace(email, "(an erased address)", StringComparison.OrdinalIgnoreCase);
                changed++;
            }
        }

        await db.SaveChangesAsync(ct);
        return changed;
    }

    /// <summary>Active rows skip double opt-in, so they need a recorded consent; null when the options are usable.</summary>
    public static string? ConsentProblem(bool active, string? consent) =>
        active && string.IsNullOrWhiteSpace(consent) ? "Say where these people agreed: importing as active needs a recorded consent." : null;

    /// <summary>Records the import and keeps the file (<see cref="ImportFiles"/>), ready for the importer on any node.</summary>
    public static async Task<SubscriberImport> StoreAsync(AppDbContext db, ImportFiles files, Stream content, string fileName, bool active, string? consent, string? tags, CancellationToken ct)
    {
        var import = new SubscriberImport
        {
            FileName = fileName.Length > 200 ? fileName[..200] : fileName,
            ImportAsActive = active,
            ConsentSource = string.IsNullOrWhiteSpace(consent) ? null : consent.Trim(),
            Tags = tags,
            Status = ImportStatus.Queued,
        };
        db.SubscriberImports.Add(import);
        await db.SaveChangesAsync(ct);
        try
        {
            import.FileSize = await files.SaveAsync(UploadName(import.Id), content, ct);
        }
        catch
        {
            // An upload cut off (or a full disk) leaves no import behind that a restart would run on nothing.
            db.SubscriberImports.Remove(import);
            await db.SaveChangesAsync(CancellationToken.None);
            throw;
        }

        await db.SaveChangesAsync(ct);
        return import;
    }

    /// <summary>The Hangfire entry point: runs an import recorded in SubscriberImports.</summary>
    [AutomaticRetry(Attempts = 0)]
    [Queue("imports")]
    public async Task RunAsync(int importId, CancellationToken ct)
    {
        // The upload is opened before the import is claimed, so from the claim on every other process and node
        // sees it being read, and no node's recovery takes this run for one a stop cut off.
        var upload = await files.OpenReadAsync(UploadName(importId), ct);
        try
        {
            // Claimed by a conditional update: Hangfire runs a job at least once, and the start-up recovery may
            // enqueue it again, so a second run of the same import finds it taken and does nothing.
            var claimed = await db.SubscriberImports.Where(i => i.Id == importId && i.Status == ImportStatus.Queued)
                .ExecuteUpdateAsync(u => u.SetProperty(i => i.Status, ImportStatus.Running), ct);
            var import = claimed == 1 ? await db.SubscriberImports.FirstOrDefaultAsync(i => i.Id == importId, ct) : null;
            if (import is not null)
            {
                try
                {
                    await ImportAsync(import, upload, ct);
                }
                catch (CsvFormatException)
                {
                    // The file's fault, recorded on the import and said on its page: a failed job with a stack
                    // trace on the jobs page (and an error in the log) only made the operator look for a bug.
                }

                return;
            }
        }
        finally
        {
            if (upload is not null)
            {
                await upload.DisposeAsync();
            }
        }

        // Taken already. When it is Running and nobody reads its file, the node that ran it died, and Hangfire
        // has handed its job to this one: say so on the import now, not at that node's next start.
        if (await db.SubscriberImports.AnyAsync(i => i.Id == importId && i.Status == ImportStatus.Running, ct))
        {
            await FailIfCutOffAsync(importId, ct);
        }
    }

    /// <summary>Marks every Running import whose file nobody reads, in any process or on any node, as cut off.</summary>
    public async Task FailCutOffAsync(CancellationToken ct)
    {
        foreach (var id in await db.SubscriberImports.Where(i => i.Status == ImportStatus.Running).Select(i => i.Id).ToListAsync(ct))
        {
            await FailIfCutOffAsync(id, ct);
        }
    }

    /// <summary>Marks a Running import whose file nobody reads as cut off; one being read (or no longer running) is left be.</summary>
    private async Task FailIfCutOffAsync(int importId, CancellationToken ct)
    {
        if (await files.IsBeingReadAsync(UploadName(importId), ct))
        {
            return; // a job on another node, or an import-subscribers verb, is running it right now
        }

        // Conditional: an import that finished between the look and this update keeps its outcome.
        // An anonymous type, not a tuple: Npgsql would read a tuple as a PostgreSQL record, which it refuses.
        var stood = await db.SubscriberImports.Where(i => i.Id == importId).Select(i => new { i.Imported, i.ImportAsActive }).FirstOrDefaultAsync(ct);
        var (imported, active) = (stood?.Imported ?? 0, stood?.ImportAsActive ?? false);
        var marked = await db.SubscriberImports.Where(i => i.Id == importId && i.Status == ImportStatus.Running).ExecuteUpdateAsync(u => u
            .SetProperty(i => i.Status, ImportStatus.Failed)
            .SetProperty(i => i.FinishedAt, clock.GetUtcNow().UtcDateTime)
            .SetProperty(i => i.Error, $"Interrupted: the app stopped while this import ran. {imported:N0} rows were imported; upload the file again to import the rest (rows already on the list are skipped as duplicates).{(active ? "" : " Those imported get their confirmation emails now.")}"), ct);
        if (marked == 1)
        {
            logger.LogWarning("Import {Id} was interrupted by a stop after {Imported} rows; marked failed", importId, imported);
            await DeleteUploadAsync(importId);
            ConfirmWhatWasImported(importId, active, imported);
        }
    }

    /// <summary>
    /// After a restart: an import left Running whose file nobody is reading was cut off by the stop, so it is
    /// marked failed with what it imported and what to do; one left Queued lost its job and is enqueued
    /// again; a pending-mode import, finished or failed, whose confirmations were cut off gets them sent.
    /// </summary>
    public async Task RecoverAsync(CancellationToken ct)
    {
        await FailCutOffAsync(ct);

        // An import is marked finished before its upload is deleted: a stop between the two left a file
        // with every address in it, which an erase request would then miss. Finish that deletion now. One
        // listing, not a look per import ever made: on PostgreSQL each look is a round trip, at every start.
        var stored = await files.ListAsync("", ct);
        foreach (var id in await db.SubscriberImports.Where(i => i.Status == ImportStatus.Completed || i.Status == ImportStatus.Failed).Select(i => i.Id).ToListAsync(ct))
        {
            if (stored.Contains(UploadName(id)))
            {
                await DeleteUploadAsync(id);
            }
        }

        foreach (var id in await db.SubscriberImports.Where(i => i.Status == ImportStatus.Queued).Select(i => i.Id).ToListAsync(ct))
        {
            jobs.Enqueue<SubscriberImporter>(i => i.RunAsync(id, CancellationToken.None));
        }

        // One pass over the pending readers still owed a confirmation, not one per import ever made.
        var owed = (await db.Subscribers
            .Where(s => s.Status == SubscriberStatus.Pending && s.LastConfirmationSentAt == null && s.Source.StartsWith("import:"))
            .Select(s => s.Source).Distinct().ToListAsync(ct)).ToHashSet(StringComparer.Ordinal);
        var unsent = owed.Count == 0 ? [] : (await db.SubscriberImports.Where(i => (i.Status == ImportStatus.Completed || i.Status == ImportStatus.Failed) && !i.ImportAsActive)
            .Select(i => i.Id).ToListAsync(ct)).Where(id => owed.Contains("import:" + id.ToString(CultureInfo.InvariantCulture)));
        foreach (var id in unsent)
        {
            jobs.Enqueue<ImportConfirmationsJob>(j => j.RunAsync(id, CancellationToken.None));
        }
    }

    /// <summary>Runs the import; a failure is recorded on the import (status, message) and rethrown.</summary>
    public async Task ImportAsync(SubscriberImport import, CancellationToken ct)
    {
        await using var upload = await files.OpenReadAsync(UploadName(import.Id), ct);
        await ImportAsync(import, upload, ct);
    }

    private async Task ImportAsync(SubscriberImport import, Stream? upload, CancellationToken ct)
    {
        try
        {
            await ImportCoreAsync(import, upload ?? throw new IOException($"The uploaded file of import {import.Id} is gone (deleted after an earlier run or a stop); upload it again."), ct);
            await upload.DisposeAsync(); // before the deletion, so no reader holds it
            await DeleteUploadAsync(import.Id);
        }
        catch (Exception e) when (e is IOException or DbException or InvalidDataException or CsvFormatException)
        {
            // The import page shows this; the rows committed before it stay imported and are counted, and the
            // batch that was open when it failed was rolled back, so its rows are not counted as imported.
            (import.Imported, import.Duplicates, import.Suppressed, import.NotMailed) = _committed;
            var message = e.Message;
            if (e is CsvFormatException)
            {
                // The file's fault, said in a sentence; a stack trace would only bury it.
                logger.LogWarning("Import {Id} failed: {Reason}", import.Id, message);
            }
            else
            {
                logger.LogError(e, "Import {Id} failed", import.Id);
            }

            import.Status = ImportStatus.Failed;
            import.Error = message;
            import.FinishedAt = clock.GetUtcNow().UtcDateTime;
            db.ChangeTracker.Clear();
            await db.SubscriberImports.Where(i => i.Id == import.Id).ExecuteUpdateAsync(u => u
                .SetProperty(i => i.Status, ImportStatus.Failed).SetProperty(i => i.Error, message).SetProperty(i => i.FinishedAt, import.FinishedAt)
                .SetProperty(i => i.Rows, import.Rows).SetProperty(i => i.Imported, import.Imported).SetProperty(i => i.Invalid, import.Invalid)
                .SetProperty(i => i.Duplicates, import.Duplicates).SetProperty(i => i.Suppressed, import.Suppressed).SetProperty(i => i.NotMailed, import.NotMailed), CancellationToken.None);
            if (upload is not null)
            {
                await upload.DisposeAsync();
            }

            await DeleteUploadAsync(import.Id);
            ConfirmWhatWasImported(import.Id, import.ImportAsActive, import.Imported);
            throw;
        }
    }

    /// <summary>
    /// The rows a pending-mode import committed are readers waiting for a confirmation, whether the import finished
    /// or stopped half-way: uploading the file again skips them as duplicates, so if they were not asked now they
    /// would never be. The job claims each row before its mail, so a second run sends nobody a second one.
    /// </summary>
    private void ConfirmWhatWasImported(int importId, bool active, int imported)
    {
        if (!active && imported > 0)
        {
            jobs.Enqueue<ImportConfirmationsJob>(j => j.RunAsync(importId, CancellationToken.None));
        }
    }

    /// <summary>
    /// The uploaded copy goes once it has been read: it holds every address in the file, and an erase
    /// request must not leave one behind among the kept files. The errors file stays for the author to download.
    /// </summary>
    private async Task DeleteUploadAsync(int importId)
    {
        try
        {
            await files.DeleteAsync(UploadName(importId), CancellationToken.None);
        }
        catch (Exception e) when (e is IOException or DbException)
        {
            logger.LogWarning(e, "Could not delete the uploaded file of import {Id}", importId);
        }
    }

    private async Task ImportCoreAsync(SubscriberImport import, Stream file, CancellationToken ct)
    {
        _committed = (import.Imported, import.Duplicates, import.Suppressed, import.NotMailed);
        // Bytes that are not UTF-8 become U+FFFD and the row holding one is reported (see NotUtf8), not imported
        // as "Caf\uFFFD": a throwing decoder would stop the whole file at its first bad byte.
        using var text = new StreamReader(file, new UTF8Encoding(false, throwOnInvalidBytes: false), detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16, leaveOpen: true);
        import.FileSize = file.Length;
        import.Status = ImportStatus.Running;
        import.StartedAt = clock.GetUtcNow().UtcDateTime;
        await db.SaveChangesAsync(ct);

        var (headerLine, headerLineNumber) = await ReadHeaderAsync(text);
        char? declared = null;
        // Excel starts a CSV saved for a locale whose list separator is not a comma with "sep=;": that line names
        // the separator, and the header is the next one (it was read as a header with no email column).
        if (headerLine?.Trim().Trim('"') is { Length: 5 } hint && hint.StartsWith("sep=", StringComparison.OrdinalIgnoreCase))
        {
            declared = hint[4];
            var (next, more) = await ReadHeaderAsync(text);
            (headerLine, headerLineNumber) = (next, headerLineNumber + more);
        }

        if (headerLine is null)
        {
            throw new CsvFormatException("The file is empty.");
        }

        var delimiter = declared ?? CsvReader.Detect(headerLine);
        var header = new CsvReader(new StringReader(headerLine), delimiter).Records().FirstOrDefault();
        // A platform's export is known by its header and keeps each reader's status there; any other CSV needs an email column.
        IRowReader map = ExportFormats.Detect(header.Fields, import.FileName) ?? ColumnMap.From(header.Fields);
        import.Platform = map.Platform;
        import.Mapping = map.Mapping.Length > 1000 ? map.Mapping[..1000] : map.Mapping;
        await db.SaveChangesAsync(ct);

        await using var errors = new StreamWriter(await files.CreateAsync(ErrorsName(import.Id), ct), new UTF8Encoding(false));
        await errors.WriteLineAsync("line,email,reason");

        var connection = db.Database.GetDbConnection();
        await db.Database.OpenConnectionAsync(ct);
        // Where the writer allows it (PostgreSQL), the batches take turns on two connections: while the server
        // merges one, this loop reads, checks and copies the next. They still commit one after the other.
        var other = writer.OverlapConnection(connection);
        Task? committing = null;
        CsvReader? reader = null;
        try
        {
            if (other is not null)
            {
                try
                {
                    await other.OpenAsync(ct);
                }
                catch (DbException e)
                {
                    // A server at its connection limit still gets the import, one batch after the other.
                    logger.LogWarning(e, "Import {Id}: no second database connection, so batches are read and merged in turn", import.Id);
                    await other.DisposeAsync();
                    other = null;
                }
            }

            var target = new ImportTarget(import.Id, import.ImportAsActive ? SubscriberStatus.Active : SubscriberStatus.Pending, $"import:{import.Id}", import.ConsentSource, clock.GetUtcNow().UtcDateTime);
            using var first = writer.Open(connection, target);
            using var second = other is null ? null : writer.Open(other, target);
            var (on, batch) = (connection, first);
            try
            {
                using var hasher = hashes.NewHasher();
                string[] defaultTags = [.. Notes.Tags.Parse(import.Tags)];
                var now = clock.GetUtcNow().UtcDateTime;
                var inBatch = 0;
                DbTransaction? tx = null;
                // The header was consumed above; the body starts on the line after it, and lines are the file's own.
                reader = new CsvReader(text, delimiter, headerLineNumber + 1);
                foreach (var record in reader.Records())
                {
                    var line = record.Line;
                    import.Rows++;
                    // A broken or undecodable record is one row's problem: it is reported and the file goes on.
                    var broken = record.Error ?? (record.Fields.Any(f => f.Contains('\uFFFD', StringComparison.Ordinal)) ? NotUtf8 : null);
                    if (broken is not null)
                    {
                        import.Invalid++;
                        await errors.WriteLineAsync($"{line},,{CsvReader.Escape(broken)}");
                        continue;
                    }

                    var row = map.Read(record.Fields);
                    if (!Newsletter.Mail.EmailAddress.TryNormalize(row.Email, out var email, out var problem))
                    {
                        import.Invalid++;
                        await errors.WriteLineAsync($"{line},{CsvReader.Escape(row.Email)},{CsvReader.Escape(problem)}");
                        continue;
                    }

                    if ((row.Problem ?? Unconfirmed(map.Platform ?? OtherPlatform, row.State)) is { } refused)
                    {
                        import.Invalid++;
                        await errors.WriteLineAsync($"{line},{CsvReader.Escape(email)},{CsvReader.Escape(refused)}");
                        continue;
                    }

                    tx ??= await on.BeginTransactionAsync(ct);
                    var key = Subscriber.KeyOf(email);
                    // A reader who left on a date the file gives, with no date of joining, joined no later than that.
                    var createdAt = row.SubscribedAt ?? (row.LeftAt < now ? row.LeftAt.Value : now);
                    string[] tags = string.IsNullOrEmpty(row.Tags) ? defaultTags : [.. defaultTags.Concat(Notes.Tags.Parse(row.Tags)).Distinct()];
                    var name = ReaderLifecycle.CleanName(row.Name);
                    if (map.Platform is null && row.State == RowState.Subscribed)
                    {
                        // Consent: an active row is confirmed when the file says, else when it subscribed; a pending
                        // one is not confirmed until the reader clicks the link its confirmation mail carries.
                        var confirmed = import.ImportAsActive ? row.ConfirmedAt ?? createdAt : (DateTime?)null;
                        // The lifecycle's own name and suppression rules: a reader imported is a reader like any other.
                        batch.Add(tx, new ImportRow(email, key, name, createdAt, confirmed, hasher.OfKey(key), tags));
                    }
                    else
                    {
                        // A file no platform of ours recognised says by its status column that this reader left.
                        batch.Add(tx, FromPlatform(import, map.Platform ?? OtherPlatform, row, email, key, name, createdAt, hasher.OfKey(key), tags, now));
                    }

                    if (++inBatch >= writer.BatchSize)
                    {
                        // The refused rows so far become readable, on PostgreSQL from every node, while the import goes on.
                        await errors.FlushAsync(ct);
                        var before = committing;
                        committing = CommitInTurnAsync(before, tx, batch, import, new Progress(import.Rows, import.Invalid, file.Position), ct);
                        tx = null;
                        inBatch = 0;
                        if (second is null)
                        {
                            await committing;
                        }
                        else
                        {
                            // The other connection is free once the batch it held has committed.
                            (on, batch) = ReferenceEquals(batch, first) ? (other!, second) : (connection, first);
                            if (before is not null)
                            {
                                await before;
                            }
                        }
                    }
                }

                if (tx is not null)
                {
                    committing = CommitInTurnAsync(committing, tx, batch, import, new Progress(import.Rows, import.Invalid, file.Length), ct);
                }

                if (committing is not null)
                {
                    await committing;
                }
            }
            finally
            {
                // A failure here may leave a batch committing on the other connection: it finishes (and counts)
                // before its writer and the connections go and the failure is recorded; the failure already on
                // its way is the one reported.
                if (committing is not null)
                {
                    await committing.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    _ = committing.Exception; // observed here, so it is not reported again as unobserved
                }
            }

            import.BytesRead = file.Length;
        }
        finally
        {
            if (other is not null)
            {
                await other.DisposeAsync();
            }

            await db.Database.CloseConnectionAsync();
        }

        if (reader?.UnreadFrom is { } unread)
        {
            // Every row before the quote is committed and counted; "Completed" with "11 rows read" would hide
            // the thousands after it that no number on the page mentions.
            await errors.FlushAsync(ct);
            throw new CsvFormatException(unread);
        }

        import.Status = ImportStatus.Completed;
        import.FinishedAt = clock.GetUtcNow().UtcDateTime;
        await db.SaveChangesAsync(ct);
        logger.LogInformation("Import {Id} finished: {Rows} rows, {Imported} imported, {Duplicates} duplicates, {Suppressed} suppressed, {NotMailed} arrived as having left, {Invalid} invalid",
            import.Id, import.Rows, import.Imported, import.Duplicates, import.Suppressed, import.NotMailed, import.Invalid);
        ConfirmWhatWasImported(import.Id, import.ImportAsActive, import.Imported);
    }

    /// <summary>Where the file stood when a batch was cut: what its progress row says once the batch commits.</summary>
    private readonly record struct Progress(int Rows, int Invalid, long BytesRead);

    /// <summary>
    /// Commits a batch after the one before it (<paramref name="before"/>), so batches commit in file order and each
    /// merge sees the readers every earlier batch added: the first row of an address stays the one that counts.
    /// </summary>
    private async Task CommitInTurnAsync(Task? before, DbTransaction tx, ImportBatchWriter batch, SubscriberImport import, Progress at, CancellationToken ct)
    {
        if (before is not null)
        {
            await before;
        }

        await CommitAsync(tx, batch, import, at, ct);
    }

    private async Task CommitAsync(DbTransaction tx, ImportBatchWriter batch, SubscriberImport import, Progress at, CancellationToken ct)
    {
        var counts = await batch.FlushAsync(tx, ct);
        import.Imported += counts.Imported;
        import.Duplicates += counts.Duplicates;
        import.Suppressed += counts.Suppressed;
        import.NotMailed += counts.NotMailed;
        // Progress is written in the same transaction as the rows it counts, so the page never runs ahead.
        await using (var progress = tx.Connection!.CreateCommand())
        {
            progress.Transaction = tx;
            progress.CommandText = """
                UPDATE "SubscriberImports" SET "Rows" = @rows, "Imported" = @imported, "Duplicates" = @dups,
                "Suppressed" = @sup, "NotMailed" = @left, "Invalid" = @invalid, "BytesRead" = @bytes, "FileSize" = @size, "Status" = @status WHERE "Id" = @id
                """;
            Add(progress, "@rows", at.Rows);
            Add(progress, "@imported", import.Imported);
            Add(progress, "@dups", import.Duplicates);
            Add(progress, "@sup", import.Suppressed);
            Add(progress, "@left", import.NotMailed);
            Add(progress, "@invalid", at.Invalid);
            Add(progress, "@bytes", at.BytesRead);
            Add(progress, "@size", import.FileSize);
            Add(progress, "@status", (int)ImportStatus.Running);
            Add(progress, "@id", import.Id);
            await progress.ExecuteNonQueryAsync(ct);
        }

        await tx.CommitAsync(ct);
        await tx.DisposeAsync();
        _committed = (import.Imported, import.Duplicates, import.Suppressed, import.NotMailed);
    }

    private static void Add(DbCommand command, string name, object value)
    {
        var p = command.CreateParameter();
        p.ParameterName = name;
        p.Value = value;
        command.Parameters.Add(p);
    }

    /// <summary>
    /// A row of a platform's export, with the reader's status there kept: one who left arrives unsubscribed, bounced or
    /// complained (never pending or active, and never mailed), with when they left; one who is subscribed arrives as the
    /// import's mode says. Either way the consent record is what the export holds, in the platform's name.
    /// </summary>
    private static ImportRow FromPlatform(SubscriberImport import, string platform, in ReadRow row, string email, string key, string? name, DateTime createdAt, string hash, string[] tags, DateTime now)
    {
        var consent = $"Imported from {platform}{(row.Evidence is null ? "" : ": " + row.Evidence)}{(import.ConsentSource is null ? "" : "; " + import.ConsentSource)}";
        consent = consent.Length > 500 ? consent[..500] : consent;
        if (row.State == RowState.Subscribed)
        {
            var confirmed = import.ImportAsActive ? row.ConfirmedAt ?? createdAt : (DateTime?)null;
            return new ImportRow(email, key, name, createdAt, confirmed, hash, tags, Consent: consent);
        }

        var (status, what) = row.State switch
        {
            RowState.Bounced => (SubscriberStatus.Bounced, "bounced (cleaned)"),
            RowState.Complained => (SubscriberStatus.Complained, "marked mail as spam"),
            _ => (SubscriberStatus.Unsubscribed, "unsubscribed"),
        };
        var when = row.LeftAt is { } left ? string.Create(CultureInfo.InvariantCulture, $", {left:yyyy-MM-dd HH:mm} UTC") : "";
        return new ImportRow(email, key, name, createdAt, row.ConfirmedAt, hash, tags, status, consent, row.LeftAt ?? now, $"{what} on {platform}{when}");
    }

    /// <summary>Where a reader of an unrecognised file left, in the words of the history line and the refusals.</summary>
    private const string OtherPlatform = "the old platform";

    /// <summary>A reader who never confirmed on the old platform never agreed to anything: reported, not imported.</summary>
    private static string? Unconfirmed(string? platform, RowState state) => state == RowState.Unconfirmed
        ? $"never confirmed their address on {platform}: not imported (they can subscribe here themselves)"
        : null;

    /// <summary>The first line that is not blank, and its number in the file, so the rows after it are numbered as an editor shows them.</summary>
    private static async Task<(string? Line, int Number)> ReadHeaderAsync(TextReader reader)
    {
        string? line;
        var number = 0;
        while ((line = await reader.ReadLineAsync()) is not null)
        {
            number++;
            if (line.Trim().Length > 0)
            {
                return (line.TrimStart('\uFEFF'), number);
            }
        }

        return (null, number);
    }

    /// <summary>A CSV of the author's own: columns found by their usual names.</summary>
    private sealed class ColumnMap : IRowReader
    {
        private int _email = -1, _name = -1, _first = -1, _last = -1, _tags = -1, _subscribed = -1, _confirmed = -1, _status = -1, _left = -1;

        public static ColumnMap From(string[] header)
        {
            var map = new ColumnMap();
            for (var i = 0; i < header.Length; i++)
            {
                var name = new string([.. header[i].Trim().ToLowerInvariant().Where(char.IsLetterOrDigit)]);
                map.Assign(ref map._email, EmailNames, name, i, header);
                map.Assign(ref map._name, NameNames, name, i, header);
                map.Assign(ref map._first, FirstNames, name, i, header);
                map.Assign(ref map._last, LastNames, name, i, header);
                map.Assign(ref map._tags, TagNames, name, i, header);
                map.Assign(ref map._subscribed, SubscribedNames, name, i, header);
                map.Assign(ref map._confirmed, ConfirmedNames, name, i, header);
                map.Assign(ref map._status, StatusNames, name, i, header);
                map.Assign(ref map._left, LeftNames, name, i, header);
            }

            if (map._email < 0)
            {
                throw new CsvFormatException($"The header has no email column (found: {string.Join(", ", header.Select(h => $"'{ImportValues.Shorten(h)}'"))}). Name one column 'email'.");
            }

            string Named(string meaning, int i) => i >= 0 ? $"{meaning} ← {header[i].Trim()}" : "";
            map.Mapping = string.Join("; ", new[]
            {
                Named("email", map._email), Named("name", map._name), Named("first name", map._first), Named("last name", map._last),
                Named("tags", map._tags), Named("subscribed", map._subscribed), Named("confirmed", map._confirmed),
                Named("status", map._status), Named("unsubscribed", map._left),
            }.Where(m => m.Length > 0));
            return map;
        }

        public string? Platform => null;

        public string Mapping { get; private set; } = "";

        public ReadRow Read(string[] f)
        {
            // Unguard: a file we exported carries the formula guard, which is not part of the value.
            string? At(int i) => i >= 0 && i < f.Length ? CsvReader.Unguard(f[i]).Trim() : null;
            var name = At(_name);
            if (string.IsNullOrEmpty(name) && (_first >= 0 || _last >= 0))
            {
                name = $"{At(_first)} {At(_last)}".Trim();
            }

            var ok = ImportValues.TryDate(At(_subscribed), out var subscribed) & ImportValues.TryDate(At(_confirmed), out var confirmed) & ImportValues.TryDate(At(_left), out var left);
            var problem = ok ? null : "a date could not be read (use YYYY-MM-DD or ISO 8601)";
            var state = RowState.Subscribed;
            if (_status >= 0 && At(_status) is { Length: > 0 } status)
            {
                // Any other platform's export (Keila, beehiiv...) or this site's own says who left in a status column:
                // read before, it was ignored, and people who had unsubscribed there arrived active or were sent a
                // confirmation. A value it doesn't know keeps the row out rather than guess.
                if (StateOf(status) is { } known)
                {
                    state = known;
                }
                else
                {
                    problem ??= $"unknown status '{ImportValues.Shorten(status)}' (known: {KnownStatuses}): not imported, so nobody is mailed by mistake";
                }
            }

            return new ReadRow(At(_email) ?? "", name, At(_tags), subscribed, confirmed, state, state == RowState.Subscribed ? null : left, null, problem);
        }

        private const string KnownStatuses = "active, subscribed, confirmed, enabled, pending, unconfirmed, unsubscribed, inactive, cancelled, disabled, blocklisted, unreachable, bounced, cleaned, invalid, complained, spam";

        /// <summary>What a status column's value says, in the words platforms use for it; null when it is none of them.</summary>
        internal static RowState? StateOf(string status) => new string([.. status.ToLowerInvariant().Where(char.IsLetterOrDigit)]) switch
        {
            "active" or "subscribed" or "confirmed" or "enabled" or "valid" or "regular" or "premium" or "free" or "paid" or "optedin" => RowState.Subscribed,
            "pending" or "unconfirmed" or "unverified" or "validating" or "unactivated" or "notconfirmed" => RowState.Unconfirmed,
            "unsubscribed" or "inactive" or "cancelled" or "canceled" or "disabled" or "blocklisted" or "blacklisted" or "deleted"
                or "archived" or "optedout" or "removed" => RowState.Unsubscribed,
            "bounced" or "cleaned" or "invalid" or "unreachable" or "undeliverable" or "hardbounce" or "hardbounced" => RowState.Bounced,
            "complained" or "spam" or "spamcomplaint" or "reported" or "abuse" => RowState.Complained,
            _ => null,
        };

        private void Assign(ref int slot, string[] names, string name, int index, string[] header)
        {
            if (!names.Any(n => n.Equals(name, StringComparison.OrdinalIgnoreCase)))
            {
                return;
            }

            if (slot >= 0)
            {
                throw new CsvFormatException($"Columns {slot + 1} ('{header[slot]}') and {index + 1} ('{header[index]}') both look like the same field; remove or rename one.");
            }

            slot = index;
        }
    }
}

public sealed class CsvFormatException(string message) : Exception(message);

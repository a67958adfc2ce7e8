using System.Data;
using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Infrastructure;
using Npgsql;
using NpgsqlTypes;

namespace Newsletter.Web.Data.Providers;

/// <summary>
/// Files an import keeps between the request that brought them and whatever reads them later: an uploaded CSV
/// until its job has read it, the rows an import refused (the author downloads them), a posts export between
/// its preview and its import. On SQLite they are files in data/imports, since SQLite means one host. On
/// PostgreSQL an upload may arrive at one node while its job runs on another and the errors are downloaded
/// from a third, so there they are rows in the database and no folder has to be shared.
/// </summary>
public abstract class ImportFiles
{
    /// <summary>
    /// Stores all of <paramref name="content"/> as <paramref name="name"/>, replacing a file of that name, and
    /// returns its length. A copy cut off half-way (a dropped upload) leaves no file behind.
    /// </summary>
    public abstract Task<long> SaveAsync(string name, Stream content, CancellationToken ct);

    /// <summary>
    /// The file for reading, or null when there is none. While the stream is open, <see cref="IsBeingReadAsync"/>
    /// says so to every process, and on PostgreSQL to every node. Its Length is the file's at opening.
    /// </summary>
    public abstract Task<Stream?> OpenReadAsync(string name, CancellationToken ct);

    /// <summary>A new file, replacing one of that name, written as it goes: what has been flushed can be read meanwhile.</summary>
    public abstract Task<Stream> CreateAsync(string name, CancellationToken ct);

    public abstract Task<bool> ExistsAsync(string name, CancellationToken ct);

    /// <summary>
    /// The names of the files directly in <paramref name="folder"/> ("" for the top, "posts/"), each as the name it
    /// was stored under: one look for a caller that would otherwise ask about many names one by one.
    /// </summary>
    public abstract Task<IReadOnlySet<string>> ListAsync(string folder, CancellationToken ct);

    /// <summary>Whether some process has the file open through <see cref="OpenReadAsync"/> right now.</summary>
    public abstract Task<bool> IsBeingReadAsync(string name, CancellationToken ct);

    /// <summary>Deletes the file; true when this call deleted it, false when it was gone (another caller took it first).</summary>
    public abstract Task<bool> DeleteAsync(string name, CancellationToken ct);

    /// <summary>Where someone at this machine finds the file, or null when it lives in the database.</summary>
    public abstract string? LocalPath(string name);

    /// <summary>Deletes the files under <paramref name="folder"/> ("posts/") stored longer ago than <paramref name="age"/>.</summary>
    public abstract Task PurgeAsync(string folder, TimeSpan age, CancellationToken ct);
}

/// <summary>One host (SQLite): files under data/imports.</summary>
public sealed class FolderImportFiles(AppPaths paths) : ImportFiles
{
    private string PathOf(string name) => Path.Combine(paths.DataFolder, "imports", name);

    public override string? LocalPath(string name) => PathOf(name);

    public override async Task<long> SaveAsync(string name, Stream content, CancellationToken ct)
    {
        var target = PathOf(name);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        // Written beside, then renamed: the name only ever stands for a whole file.
        var temp = $"{target}.{Guid.NewGuid():N}.tmp";
        try
        {
            long length;
            await using (var file = File.Create(temp))
            {
                await content.CopyToAsync(file, ct);
                length = file.Length;
            }

            File.Move(temp, target, overwrite: true);
            return length;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    public override Task<Stream?> OpenReadAsync(string name, CancellationToken ct)
    {
        try
        {
            // Shared, so the errors file can be read while the import still writes it. .NET takes a shared advisory
            // lock (flock) for any share mode but None, which is what IsBeingReadAsync probes.
            return Task.FromResult<Stream?>(new FileStream(PathOf(name), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16, FileOptions.SequentialScan));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult<Stream?>(null);
        }
    }

    public override Task<Stream> CreateAsync(string name, CancellationToken ct)
    {
        var path = PathOf(name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return Task.FromResult<Stream>(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16));
    }

    public override Task<bool> ExistsAsync(string name, CancellationToken ct) => Task.FromResult(File.Exists(PathOf(name)));

    public override Task<IReadOnlySet<string>> ListAsync(string folder, CancellationToken ct)
    {
        var directory = new DirectoryInfo(PathOf(folder));
        // A file being written (.tmp) or being deleted (.gone) does not stand for a name yet, or any more.
        IReadOnlySet<string> names = directory.Exists
            ? directory.EnumerateFiles().Where(f => f.Extension is not ".tmp" and not ".gone").Select(f => folder + f.Name).ToHashSet(StringComparer.Ordinal)
            : new HashSet<string>();
        return Task.FromResult(names);
    }

    public override Task<bool> IsBeingReadAsync(string name, CancellationToken ct)
    {
        try
        {
            // An exclusive open asks for the exclusive lock, which fails while anyone holds the shared one.
            using var probe = new FileStream(PathOf(name), FileMode.Open, FileAccess.Read, FileShare.None);
            return Task.FromResult(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult(false);
        }
        catch (IOException)
        {
            return Task.FromResult(true);
        }
    }

    public override Task PurgeAsync(string folder, TimeSpan age, CancellationToken ct)
    {
        var directory = new DirectoryInfo(PathOf(folder));
        if (directory.Exists)
        {
            foreach (var file in directory.EnumerateFiles().Where(f => f.LastWriteTimeUtc < DateTime.UtcNow - age))
            {
                file.Delete();
            }
        }

        return Task.CompletedTask;
    }

    public override Task<bool> DeleteAsync(string name, CancellationToken ct)
    {
        // Renamed first: of two callers at once, exactly one finds the file to rename.
        var gone = $"{PathOf(name)}.{Guid.NewGuid():N}.gone";
        try
        {
            File.Move(PathOf(name), gone);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult(false);
        }

        File.Delete(gone);
        return Task.FromResult(true);
    }
}

/// <summary>
/// Several nodes (PostgreSQL): each file is a row in "ImportFiles" and its bytes are rows of "ImportFileChunks", a
/// megabyte each, so a gigabyte upload is neither one value nor held in memory. A reader holds a shared advisory
/// lock on the file's name for as long as its stream is open, on a connection of its own; a node that dies
/// drops its connection and with it the lock, so another node's recovery then sees the import as cut off.
/// </summary>
public sealed class DatabaseImportFiles(AppDbContext db) : ImportFiles
{
    private const int ChunkBytes = 1 << 20;

    // The advisory locks' first key, so they never meet another user of pg_advisory_lock on the same database.
    private const int LockClass = 0x4E4C4946;

    public override string? LocalPath(string name) => null;

    // The uploads go on connections of their own: the import's own connection is inside its batch transactions,
    // and a failed batch must not take the errors written so far with it. CloneWith keeps the password.
    private async Task<NpgsqlConnection> OpenAsync(CancellationToken ct)
    {
        var own = (NpgsqlConnection)db.Database.GetDbConnection();
        var connection = own.CloneWith(db.Database.GetConnectionString() ?? own.ConnectionString);
        await connection.OpenAsync(ct);
        return connection;
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, string sql, string name, NpgsqlTransaction? tx = null)
    {
        var command = new NpgsqlCommand(sql, connection, tx);
        command.Parameters.Add(new NpgsqlParameter<string>("n", name));
        return command;
    }

    private static async Task StartAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string name, CancellationToken ct)
    {
        await using var start = Command(connection, """
            DELETE FROM "ImportFiles" WHERE "Name" = @n;
            INSERT INTO "ImportFiles" ("Name", "Length") VALUES (@n, 0);
            """, name, tx);
        await start.ExecuteNonQueryAsync(ct);
    }

    private static NpgsqlCommand Append(NpgsqlConnection connection, NpgsqlTransaction? tx, string name, int seq, ReadOnlyMemory<byte> data)
    {
        // The chunk and the file's new length in one statement: a reader never sees a length its chunks don't hold.
        var append = Command(connection, """
            WITH chunk AS (INSERT INTO "ImportFileChunks" ("Name", "Seq", "Data") VALUES (@n, @s, @d))
            UPDATE "ImportFiles" SET "Length" = "Length" + @l WHERE "Name" = @n;
            """, name, tx);
        append.Parameters.Add(new NpgsqlParameter<int>("s", seq));
        append.Parameters.Add(new NpgsqlParameter<ReadOnlyMemory<byte>>("d", data) { NpgsqlDbType = NpgsqlDbType.Bytea });
        append.Parameters.Add(new NpgsqlParameter<long>("l", data.Length));
        return append;
    }

    public override async Task<long> SaveAsync(string name, Stream content, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        // One transaction: a copy cut off half-way rolls back, and the name never stands for half a file.
        await using var tx = await connection.BeginTransactionAsync(ct);
        await StartAsync(connection, tx, name, ct);
        var buffer = new byte[ChunkBytes];
        long length = 0;
        for (var seq = 0; ; seq++)
        {
            var filled = await content.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct);
            if (filled == 0)
            {
                break;
            }

            await using (var append = Append(connection, tx, name, seq, buffer.AsMemory(0, filled)))
            {
                await append.ExecuteNonQueryAsync(ct);
            }

            length += filled;
        }

        await tx.CommitAsync(ct);
        return length;
    }

    public override async Task<Stream?> OpenReadAsync(string name, CancellationToken ct)
    {
        var connection = await OpenAsync(ct);
        try
        {
            await using var find = Command(connection, """SELECT "Length" FROM "ImportFiles" WHERE "Name" = @n""", name);
            if (await find.ExecuteScalarAsync(ct) is not long length)
            {
                await connection.DisposeAsync();
                return null;
            }

            await using var hold = Lock(connection, "pg_advisory_lock_shared", name);
            await hold.ExecuteNonQueryAsync(ct);
            return new ChunkReader(connection, name, length);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private static NpgsqlCommand Lock(NpgsqlConnection connection, string function, string name)
    {
        var command = Command(connection, $"SELECT {function}(@k, hashtext(@n))", name);
        command.Parameters.Add(new NpgsqlParameter<int>("k", LockClass));
        return command;
    }

    public override async Task<Stream> CreateAsync(string name, CancellationToken ct)
    {
        var connection = await OpenAsync(ct);
        try
        {
            await StartAsync(connection, null, name, ct);
            return new ChunkWriter(connection, name);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    public override async Task<bool> ExistsAsync(string name, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var exists = Command(connection, """SELECT EXISTS (SELECT 1 FROM "ImportFiles" WHERE "Name" = @n)""", name);
        return (bool)(await exists.ExecuteScalarAsync(ct))!;
    }

    public override async Task<IReadOnlySet<string>> ListAsync(string folder, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        // Directly in the folder: what follows its prefix has no further '/'.
        await using var list = Command(connection, """
            SELECT "Name" FROM "ImportFiles" WHERE starts_with("Name", @n) AND strpos(substr("Name", length(@n) + 1), '/') = 0
            """, folder);
        var names = new HashSet<string>(StringComparer.Ordinal);
        await using var reader = await list.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }

    public override async Task<bool> IsBeingReadAsync(string name, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        // The exclusive lock is refused while any reader holds the shared one; taken, it is given back at once.
        await using var probe = Command(connection, """
            SELECT CASE WHEN pg_try_advisory_lock(@k, hashtext(@n)) THEN NOT pg_advisory_unlock(@k, hashtext(@n)) ELSE true END
            """, name);
        probe.Parameters.Add(new NpgsqlParameter<int>("k", LockClass));
        return (bool)(await probe.ExecuteScalarAsync(ct))!;
    }

    public override async Task PurgeAsync(string folder, TimeSpan age, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        // starts_with, not LIKE: a name's own % or _ would be a pattern.
        await using var purge = Command(connection, """DELETE FROM "ImportFiles" WHERE starts_with("Name", @n) AND "CreatedAt" < now() - @age""", folder);
        purge.Parameters.Add(new NpgsqlParameter<TimeSpan>("age", age));
        await purge.ExecuteNonQueryAsync(ct);
    }

    public override async Task<bool> DeleteAsync(string name, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var delete = Command(connection, """DELETE FROM "ImportFiles" WHERE "Name" = @n""", name);
        return await delete.ExecuteNonQueryAsync(ct) > 0;
    }

    /// <summary>Reads a stored file chunk by chunk; CSV parsing reads synchronously, so both ways are served.</summary>
    private sealed class ChunkReader(NpgsqlConnection connection, string name, long length) : Stream
    {
        private readonly NpgsqlCommand _next = Command(connection, """SELECT "Data" FROM "ImportFileChunks" WHERE "Name" = @n AND "Seq" = @s""", name);
        private byte[] _chunk = [];
        private bool _disposed;
        private int _offset;
        private int _seq;
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_offset == _chunk.Length && _position < length)
            {
                Take(Fetch().ExecuteScalar());
            }

            return Copy(buffer);
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_offset == _chunk.Length && _position < length)
            {
                Take(await Fetch().ExecuteScalarAsync(cancellationToken));
            }

            return Copy(buffer.Span);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private NpgsqlCommand Fetch()
        {
            if (_seq == 0)
            {
                _next.Parameters.Add(new NpgsqlParameter<int>("s", 0));
            }

            ((NpgsqlParameter<int>)_next.Parameters["s"]).TypedValue = _seq++;
            return _next;
        }

        private void Take(object? chunk)
        {
            // A file whose rows were deleted while it was read (an erase, a recovery elsewhere) ends in a clear
            // error, never in a silent early end that would look like a shorter file.
            _chunk = chunk as byte[] is { Length: > 0 } bytes ? bytes
                : throw new IOException($"The stored file {name} ends at byte {_position:N0} of {length:N0}: it was deleted while it was read.");
            _offset = 0;
        }

        private int Copy(Span<byte> buffer)
        {
            var n = (int)Math.Min(Math.Min(buffer.Length, _chunk.Length - _offset), length - _position);
            _chunk.AsSpan(_offset, n).CopyTo(buffer);
            _offset += n;
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            // Twice is allowed (a response disposes the stream it was given, and so may its caller).
            if (disposing && !_disposed)
            {
                _disposed = true;
                _next.Dispose();
                try
                {
                    // Given back by name: a pooled connection keeps its session, and with it the lock, until reused.
                    using var release = Lock(connection, "pg_advisory_unlock_shared", name);
                    release.ExecuteNonQuery();
                }
                catch (NpgsqlException)
                {
                    // A broken connection is dropped from the pool, and its session's locks end with it.
                }
                finally
                {
                    connection.Dispose();
                }
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>
    /// Appends what is written as chunks, each committed on its own: a flush (the importer flushes its errors
    /// after every batch) makes what came before it readable on every node.
    /// </summary>
    private sealed class ChunkWriter(NpgsqlConnection connection, string name) : Stream
    {
        private readonly MemoryStream _pending = new();
        private bool _disposed;
        private int _seq;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            _pending.Write(buffer);
            if (_pending.Length >= ChunkBytes)
            {
                Flush();
            }
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _pending.Write(buffer.Span);
            if (_pending.Length >= ChunkBytes)
            {
                await FlushAsync(cancellationToken);
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
            if (_pending.Length > 0)
            {
                using var append = Append(connection, null, name, _seq++, _pending.GetBuffer().AsMemory(0, (int)_pending.Length));
                append.ExecuteNonQuery();
                _pending.SetLength(0);
            }
        }

        public override async Task FlushAsync(CancellationToken cancellationToken)
        {
            if (_pending.Length > 0)
            {
                await using var append = Append(connection, null, name, _seq++, _pending.GetBuffer().AsMemory(0, (int)_pending.Length));
                await append.ExecuteNonQueryAsync(cancellationToken);
                _pending.SetLength(0);
            }
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing && !_disposed)
            {
                _disposed = true;
                try
                {
                    Flush();
                }
                finally
                {
                    connection.Dispose();
                }
            }

            base.Dispose(disposing);
        }
    }
}

using Microsoft.Data.Sqlite;

namespace Newsletter.Hangfire.Sqlite;

/// <summary>
/// Creates and migrates the storage's own tables. Each migration runs once, in an immediate transaction together with the
/// version bump, so two processes starting at the same moment cannot both apply it.
/// </summary>
internal static class SqliteSchema
{
    /// <summary>UPDATE ... RETURNING, which the fetch claims jobs with, arrived in 3.35.</summary>
    public static readonly Version MinimumSqliteVersion = new(3, 35, 0);

    private static readonly string[] Migrations =
    [
        // 1: the initial schema. Ids are AUTOINCREMENT so an id is never reused after its job expired.
        """
        CREATE TABLE job (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            state_id INTEGER,
            state_name TEXT,
            invocation_data TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expire_at INTEGER
        );
        CREATE INDEX ix_job_state ON job (state_name, state_id);
        CREATE INDEX ix_job_expire_at ON job (expire_at) WHERE expire_at IS NOT NULL;
        INSERT INTO sqlite_sequence (name, seq) SELECT 'job', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'job');

        CREATE TABLE job_parameter (
            job_id INTEGER NOT NULL,
            name TEXT NOT NULL,
            value TEXT,
            PRIMARY KEY (job_id, name)
        );

        CREATE TABLE job_state (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id INTEGER NOT NULL,
            name TEXT NOT NULL,
            reason TEXT,
            created_at INTEGER NOT NULL,
            data TEXT
        );
        CREATE INDEX ix_job_state_job_id ON job_state (job_id);

        CREATE TABLE job_queue (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id INTEGER NOT NULL,
            queue TEXT NOT NULL,
            fetched_at INTEGER,
            fetch_token INTEGER
        );
        CREATE INDEX ix_job_queue_queue_id ON job_queue (queue, id);
        CREATE INDEX ix_job_queue_job_id ON job_queue (job_id);

        CREATE TABLE counter (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL,
            value INTEGER NOT NULL,
            expire_at INTEGER
        );
        CREATE INDEX ix_counter_key ON counter (key);
        CREATE INDEX ix_counter_expire_at ON counter (expire_at) WHERE expire_at IS NOT NULL;

        CREATE TABLE aggregated_counter (
            key TEXT PRIMARY KEY,
            value INTEGER NOT NULL,
            expire_at INTEGER
        );
        CREATE INDEX ix_aggregated_counter_expire_at ON aggregated_counter (expire_at) WHERE expire_at IS NOT NULL;

        CREATE TABLE hash_entry (
            key TEXT NOT NULL,
            field TEXT NOT NULL,
            value TEXT,
            expire_at INTEGER,
            PRIMARY KEY (key, field)
        );
        CREATE INDEX ix_hash_entry_expire_at ON hash_entry (expire_at) WHERE expire_at IS NOT NULL;

        CREATE TABLE list_entry (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL,
            value TEXT,
            expire_at INTEGER
        );
        CREATE INDEX ix_list_entry_key ON list_entry (key, id);
        CREATE INDEX ix_list_entry_expire_at ON list_entry (expire_at) WHERE expire_at IS NOT NULL;

        CREATE TABLE set_entry (
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            score REAL NOT NULL,
            expire_at INTEGER,
            PRIMARY KEY (key, value)
        );
        CREATE INDEX ix_set_entry_score ON set_entry (key, score, value);
        CREATE INDEX ix_set_entry_expire_at ON set_entry (expire_at) WHERE expire_at IS NOT NULL;

        CREATE TABLE server (
            id TEXT PRIMARY KEY,
            data TEXT NOT NULL,
            last_heartbeat INTEGER NOT NULL
        );

        CREATE TABLE distributed_lock (
            resource TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            expire_at INTEGER NOT NULL
        );
        """,

        // 2: fewer pages per job. Every page a commit changes is one more WAL frame, and a job takes four commits.
        // - job_state loses AUTOINCREMENT: the sequence page was written by the Processing and the Succeeded commits for
        //   it alone. A state id reused after its job expired is harmless: the job row that named it went in the same
        //   delete, and a new state of a job still gets an id above all of that job's states (max + 1).
        // - distributed_lock and aggregated_counter are keyed by text and read only by their key: WITHOUT ROWID stores
        //   each row once, in its key's b-tree, instead of a table row plus an index entry (two pages per write).
        // - job_queue's index on job_id goes: only expiration looked a queue row up by its job, for jobs that expired
        //   still enqueued; it scans the (short) queue once per batch instead, and every enqueue and dequeue writes one
        //   page less.
        """
        CREATE TABLE job_state_2 (
            id INTEGER PRIMARY KEY,
            job_id INTEGER NOT NULL,
            name TEXT NOT NULL,
            reason TEXT,
            created_at INTEGER NOT NULL,
            data TEXT
        );
        INSERT INTO job_state_2 (id, job_id, name, reason, created_at, data) SELECT id, job_id, name, reason, created_at, data FROM job_state;
        DROP TABLE job_state;
        ALTER TABLE job_state_2 RENAME TO job_state;
        CREATE INDEX ix_job_state_job_id ON job_state (job_id);

        CREATE TABLE distributed_lock_2 (
            resource TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            expire_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO distributed_lock_2 (resource, owner, expire_at) SELECT resource, owner, expire_at FROM distributed_lock;
        DROP TABLE distributed_lock;
        ALTER TABLE distributed_lock_2 RENAME TO distributed_lock;

        CREATE TABLE aggregated_counter_2 (
            key TEXT PRIMARY KEY,
            value INTEGER NOT NULL,
            expire_at INTEGER
        ) WITHOUT ROWID;
        INSERT INTO aggregated_counter_2 (key, value, expire_at) SELECT key, value, expire_at FROM aggregated_counter;
        DROP TABLE aggregated_counter;
        ALTER TABLE aggregated_counter_2 RENAME TO aggregated_counter;
        CREATE INDEX ix_aggregated_counter_expire_at ON aggregated_counter (expire_at) WHERE expire_at IS NOT NULL;

        DROP INDEX ix_job_queue_job_id;
        """,
    ];

    public static int LatestVersion => Migrations.Length;

    /// <summary>The SQL of one migration; tests write a file as an earlier version left it.</summary>
    internal static string Migration(int version) => Migrations[version - 1];

    public static Version SqliteVersion(SqliteConnection connection) =>
        Version.Parse((string)connection.Scalar("SELECT sqlite_version()")!);

    public static void Install(SqliteDatabase database)
    {
        using (var connection = database.Open())
        {
            var version = SqliteVersion(connection);
            if (version < MinimumSqliteVersion)
            {
                throw new NotSupportedException(
                    $"The SQLite job storage needs SQLite {MinimumSqliteVersion} or later (UPDATE ... RETURNING); this process loaded {version}.");
            }

            // Persistent in the file: set once, every later connection (of any process) opens in WAL mode.
            var mode = (string?)connection.Scalar("PRAGMA journal_mode = WAL");
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new NotSupportedException($"The job database '{database.FilePath}' could not switch to WAL mode (it reports '{mode}').");
            }
        }

        database.Write(connection =>
        {
            connection.Execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
            var current = (int)connection.Long("SELECT COALESCE(MAX(version), 0) FROM schema_version");
            if (current > Migrations.Length)
            {
                throw new NotSupportedException(
                    $"The job database '{database.FilePath}' has schema version {current}; this build knows versions up to {Migrations.Length}.");
            }

            for (var version = current + 1; version <= Migrations.Length; version++)
            {
                connection.Execute(Migrations[version - 1]);
                connection.Execute("DELETE FROM schema_version");
                connection.Execute("INSERT INTO schema_version (version) VALUES ($v)", ("$v", version));
            }
        });
    }
}

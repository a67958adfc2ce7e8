using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Npgsql;

namespace Newsletter.Web.Data.Providers;

/// <summary>What a database error means, in the provider's own codes.</summary>
public abstract class DatabaseErrors
{
    /// <summary>
    /// A unique index refused the row. EF wraps the provider's exception in a DbUpdateException for
    /// SaveChanges, but not for ExecuteUpdate, ExecuteDelete or raw SQL: both shapes count.
    /// </summary>
    public bool IsUniqueViolation(Exception e) => IsUnique(e is DbUpdateException { InnerException: { } inner } ? inner : e);

    protected abstract bool IsUnique(Exception e);
}

internal sealed class SqliteDatabaseErrors : DatabaseErrors
{
    protected override bool IsUnique(Exception e) =>
        e is SqliteException { SqliteExtendedErrorCode: SQLitePCL.raw.SQLITE_CONSTRAINT_UNIQUE or SQLitePCL.raw.SQLITE_CONSTRAINT_PRIMARYKEY };
}

internal sealed class PostgresDatabaseErrors : DatabaseErrors
{
    protected override bool IsUnique(Exception e) => e is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation };
}

public static class DatabaseErrorsExtensions
{
    /// <summary>Asks the running provider's <see cref="DatabaseErrors"/>, for code that holds only the context.</summary>
    public static bool IsUniqueViolation(this AppDbContext db, Exception e) => db.GetService<DatabaseErrors>().IsUniqueViolation(e);
}

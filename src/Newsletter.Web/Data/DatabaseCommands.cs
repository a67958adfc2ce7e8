using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace Newsletter.Web.Data;

/// <summary>
/// A raw command on the context's connection, inside an open transaction (or none, for a read), for the few statements EF can't
/// say (claims with RETURNING, writes that must share the ledger's transaction). Values are typed by the
/// provider, which maps a UTC DateTime to each database's own column type.
/// </summary>
internal static class DatabaseCommands
{
    public static DbCommand Command(this AppDbContext db, IDbContextTransaction? tx, string sql, params (string Name, object Value)[] parameters)
    {
        var command = db.Database.GetDbConnection().CreateCommand();
        command.Transaction = tx?.GetDbTransaction();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var p = command.CreateParameter();
            p.ParameterName = name;
            p.Value = value;
            command.Parameters.Add(p);
        }

        return command;
    }
}

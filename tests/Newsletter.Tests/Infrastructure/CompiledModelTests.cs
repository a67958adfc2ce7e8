using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Migrations;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;

namespace Newsletter.Tests.Infrastructure;

/// <summary>
/// The app runs on each provider's compiled model (Data/CompiledModels), not on the model its code describes. A
/// change to an entity or its configuration without `dotnet ef dbcontext optimize` would leave the app writing
/// the old shape while migrations make the new one; these tests fail until the compiled model is made again.
/// </summary>
public class CompiledModelTests
{
    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.PostgreSql)]
    public void TheCompiledModelIsTheModelTheCodeDescribes(DatabaseProvider provider)
    {
        using var compiled = Context(provider, compiledModel: true);
        using var fromCode = Context(provider, compiledModel: false);
        // The app's context runs on the generated class of its own provider; `dotnet ef` builds from the code.
        Assert.Equal($"Newsletter.Web.Data.CompiledModels.{provider}", compiled.Model.GetType().Namespace);
        var code = fromCode.GetService<IDesignTimeModel>().Model;
        Assert.IsNotType<RuntimeModel>(code, exactMatch: false);

        // EF's model differ reads design-time settings a compiled model does not keep, so the two are compared
        // as the app uses them: the tables, columns, keys and indexes EF writes SQL for, and each entity's
        // properties as change tracking and materialisation read them.
        Assert.Equal(Shape(code), Shape(compiled.Model));
    }

    /// <summary>With it, `dotnet ef` would make migrations from the compiled model instead of the code.</summary>
    [Fact]
    public void NoCompiledModelIsPickedByAnAssemblyAttribute() =>
        Assert.Empty(typeof(AppDbContext).Assembly.GetCustomAttributes(typeof(DbContextModelAttribute), inherit: false));

    private static List<string> Shape(IModel model)
    {
        var lines = new List<string>();
        foreach (var table in model.GetRelationalModel().Tables.OrderBy(t => t.Name))
        {
            lines.Add($"table {table.Name} {table.Schema} key {table.PrimaryKey?.Name}({Names(table.PrimaryKey?.Columns)})");
            lines.AddRange(table.Columns.OrderBy(c => c.Name).Select(c => $"  column {c.Name} {c.StoreType} null={c.IsNullable}"));
            lines.AddRange(table.Indexes.OrderBy(i => i.Name).Select(i => $"  index {i.Name}({Names(i.Columns)}) unique={i.IsUnique} filter={i.Filter}"));
            lines.AddRange(table.ForeignKeyConstraints.OrderBy(f => f.Name).Select(f =>
                $"  foreign key {f.Name}({Names(f.Columns)}) -> {f.PrincipalTable.Name}({Names(f.PrincipalColumns)}) on delete {f.OnDeleteAction}"));
            lines.AddRange(table.UniqueConstraints.OrderBy(u => u.Name).Select(u => $"  unique {u.Name}({Names(u.Columns)})"));
        }

        foreach (var type in model.GetEntityTypes().OrderBy(t => t.Name))
        {
            lines.Add($"entity {type.Name} -> {type.GetTableName()}");
            lines.AddRange(type.GetProperties().Select(p =>
                $"  property {p.Name} {p.ClrType.Name} null={p.IsNullable} generated={p.ValueGenerated} converter={Converter(p)} concurrency={p.IsConcurrencyToken}"));
            lines.AddRange(type.GetNavigations().Select(n => $"  navigation {n.Name} -> {n.TargetEntityType.Name}"));
        }

        return lines;
    }

    // The generated code writes a converter class as the expressions it is made of, so its types are what compare.
    private static string Converter(IProperty property) =>
        property.GetTypeMapping().Converter is { } c ? $"{c.ModelClrType.Name}->{c.ProviderClrType.Name}" : "none";

    private static string Names(IEnumerable<IColumnBase>? columns) => string.Join(",", columns?.Select(c => c.Name) ?? []);

    private static AppDbContext Context(DatabaseProvider provider, bool compiledModel)
    {
        var options = new DbContextOptionsBuilder<AppDbContext>();
        options.UseDatabase(provider, provider == DatabaseProvider.PostgreSql ? "Host=localhost;Database=none" : "Data Source=:memory:", compiledModel);
        return new AppDbContext(options.Options);
    }
}

using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Newsletter.Web.Data.Providers;

#nullable disable

namespace Newsletter.Web.Data.Migrations.PostgreSql;

/// <summary>
/// Webhook events of one issue or note wait for the earlier ones (WebhookSql.InTurn), which looks them up by these
/// partial indexes. Not in the model: only that raw SQL reads them, and an outbox of a million reader rows would
/// otherwise carry a million NULL entries in each.
/// </summary>
[DbContext(typeof(AppDbContext))]
[Migration("20261206103001_WebhookTurns")]
public sealed class WebhookTurns : Migration
{
    protected override void Up(MigrationBuilder migrationBuilder) => migrationBuilder.Sql(WebhookSql.CreateTurnIndexes);

    protected override void Down(MigrationBuilder migrationBuilder) => migrationBuilder.Sql(WebhookSql.DropTurnIndexes);
}

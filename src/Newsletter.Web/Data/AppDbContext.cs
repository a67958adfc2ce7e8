using Microsoft.AspNetCore.DataProtection.EntityFrameworkCore;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Microsoft.EntityFrameworkCore.Migrations;
using Newsletter.Web.Content;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Issues;
using Newsletter.Web.Notes;
using Newsletter.Web.Sending;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Data;

/// <summary>The one database context. Entities live in their feature folders and configure themselves.</summary>
public sealed class AppDbContext(DbContextOptions<AppDbContext> options)
    : IdentityDbContext<AppUser>(options), IDataProtectionKeyContext
{
    public DbSet<Note> Notes => Set<Note>();

    public DbSet<NoteTag> NoteTags => Set<NoteTag>();

    public DbSet<Subscriber> Subscribers => Set<Subscriber>();

    public DbSet<SubscriberTag> SubscriberTags => Set<SubscriberTag>();

    public DbSet<SubscriberEvent> SubscriberEvents => Set<SubscriberEvent>();

    public DbSet<Suppression> Suppressions => Set<Suppression>();

    public DbSet<SignUp> SignUps => Set<SignUp>();

    public DbSet<PendingMail> PendingMails => Set<PendingMail>();

    public DbSet<SubscriberImport> SubscriberImports => Set<SubscriberImport>();

    public DbSet<Issue> Issues => Set<Issue>();

    public DbSet<IssueNote> IssueNotes => Set<IssueNote>();

    public DbSet<IssueTag> IssueTags => Set<IssueTag>();

    public DbSet<Delivery> Deliveries => Set<Delivery>();

    public DbSet<SendRateBucket> SendRateBuckets => Set<SendRateBucket>();

    public DbSet<SendNodeRow> SendNodes => Set<SendNodeRow>();

    public DbSet<ContentVersion> ContentVersions => Set<ContentVersion>();

    public DbSet<Infrastructure.RateLimitWindow> RateLimitWindows => Set<Infrastructure.RateLimitWindow>();

    public DbSet<Webhooks.WebhookEndpoint> WebhookEndpoints => Set<Webhooks.WebhookEndpoint>();

    public DbSet<Webhooks.WebhookDelivery> WebhookDeliveries => Set<Webhooks.WebhookDelivery>();

    public DbSet<DataProtectionKey> DataProtectionKeys => Set<DataProtectionKey>();

    public DbSet<Infrastructure.InstallationKey> InstallationKeys => Set<Infrastructure.InstallationKey>();

    public DbSet<Api.ApiToken> ApiTokens => Set<Api.ApiToken>();

    public DbSet<Replies.ReplyThread> ReplyThreads => Set<Replies.ReplyThread>();

    public DbSet<Replies.ReplyMessage> ReplyMessages => Set<Replies.ReplyMessage>();

    public DbSet<Replies.InboundCursor> InboundCursors => Set<Replies.InboundCursor>();

    public DbSet<Audit.AuditEntry> AuditEntries => Set<Audit.AuditEntry>();

    public DbSet<Tracking.IssueLink> IssueLinks => Set<Tracking.IssueLink>();

    public DbSet<Digests.Digest> Digests => Set<Digests.Digest>();

    public DbSet<Digests.DigestRun> DigestRuns => Set<Digests.DigestRun>();

    public DbSet<Digests.DigestRunNote> DigestRunNotes => Set<Digests.DigestRunNote>();

    protected override void OnConfiguring(DbContextOptionsBuilder optionsBuilder) =>
        // Here rather than where the options are built, so a context made by hand (tests, benchmarks, tools)
        // also applies only its own provider's migrations.
        optionsBuilder.ReplaceService<IMigrationsAssembly, ProviderMigrationsAssembly>();

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // Everything is stored as UTC and read back marked as UTC, so comparisons and formatting never
        // depend on the server's zone: SQLite has no time zone type, and PostgreSQL's timestamp with time
        // zone, which Npgsql maps DateTime to, accepts only UTC values.
        configurationBuilder.Properties<DateTime>().HaveConversion<UtcDateTimeConverter>();
        configurationBuilder.Properties<DateTime?>().HaveConversion<NullableUtcDateTimeConverter>();
    }

    protected override void OnModelCreating(ModelBuilder builder)
    {
        base.OnModelCreating(builder);
        builder.ApplyConfigurationsFromAssembly(typeof(AppDbContext).Assembly);
        // A reader's history lines name the reader, and go when the reader goes. On PostgreSQL a foreign key checked
        // that once per line, a fifth of an import's merge, so there triggers check each statement once instead
        // (Data/Migrations/PostgreSql/*SubscriberEventsCheck.cs). On SQLite the key is cheaper than a row trigger
        // (the import slowed by a tenth without it), so it stays. Each provider has its own model and migrations.
        if (!Database.IsNpgsql())
        {
            builder.Entity<Subscribers.Subscriber>().HasMany<Subscribers.SubscriberEvent>().WithOne()
                .HasForeignKey(e => e.SubscriberId).OnDelete(DeleteBehavior.Cascade);
        }
    }
}

internal sealed class UtcDateTimeConverter() : Microsoft.EntityFrameworkCore.Storage.ValueConversion.ValueConverter<DateTime, DateTime>(
    v => v.Kind == DateTimeKind.Utc ? v : v.ToUniversalTime(),
    v => DateTime.SpecifyKind(v, DateTimeKind.Utc));

internal sealed class NullableUtcDateTimeConverter() : Microsoft.EntityFrameworkCore.Storage.ValueConversion.ValueConverter<DateTime?, DateTime?>(
    v => v == null ? v : v.Value.Kind == DateTimeKind.Utc ? v : v.Value.ToUniversalTime(),
    v => v == null ? v : DateTime.SpecifyKind(v.Value, DateTimeKind.Utc));

/// <summary>An author account. The one who ran first-time setup is its founder and its first owner.</summary>
public sealed class AppUser : IdentityUser
{
    public string DisplayName { get; set; } = "";

    /// <summary>
    /// Ran first-time setup. There is only ever one (a unique index), which is what stops two setup posts racing
    /// on two nodes; what the account may do is <see cref="Role"/>, which another owner can change.
    /// </summary>
    public bool IsFounder { get; set; }

    public Admin.AuthorRole Role { get; set; } = Admin.AuthorRole.Writer;

    /// <summary>Set while the account is suspended: no sign-in, and its sessions and API tokens stop working.</summary>
    public DateTime? SuspendedAt { get; set; }

    public DateTime CreatedAt { get; set; } = DateTime.UtcNow;
}

internal sealed class AppUserConfiguration : IEntityTypeConfiguration<AppUser>
{
    // One owner, held by the database that every node writes to: two setup posts on two processes can both
    // find no account yet, but only one owner row can be inserted. The filter reads the same on SQLite and
    // PostgreSQL.
    public void Configure(EntityTypeBuilder<AppUser> b)
    {
        // The column keeps its first name: renaming it would rebuild the users table on SQLite for nothing.
        b.Property(u => u.IsFounder).HasColumnName("IsOwner");
        b.HasIndex(u => u.IsFounder).IsUnique().HasFilter("\"IsOwner\"").HasDatabaseName("IX_AspNetUsers_OneOwner");
        b.Property(u => u.Role).HasConversion<string>().HasMaxLength(16);
    }
}

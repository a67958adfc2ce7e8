using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// A sign-up from the public form, stored by <see cref="SignUpWriter"/> before the form is answered and turned
/// into a reader by <see cref="SignUpDispatcher"/> soon after. The row is the sign-up's only record until then,
/// so the address is kept as typed; it lives seconds, and the dispatcher deletes it in the transaction that
/// writes the reader.
/// </summary>
public sealed class SignUp
{
    public long Id { get; set; }

    public string Email { get; set; } = "";

    public string? Name { get; set; }

    public string Source { get; set; } = "";

    /// <summary>Topics ticked on the form (already checked against those offered), one per line; null for none.</summary>
    public string? Topics { get; set; }

    public DateTime ReceivedAt { get; set; }

    /// <summary>Failed attempts to take it; after each the next waits longer (<see cref="RetryAt"/>).</summary>
    public int Attempts { get; set; }

    public DateTime? RetryAt { get; set; }

    public IReadOnlyCollection<string> TopicList => Topics is null ? [] : Topics.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}

public enum PendingMailKind
{
    Confirmation = 1,
    AlreadySubscribed = 2,
    Welcome = 3,
}

/// <summary>
/// An email to a reader that the transaction writing the reader decided on: stored in that transaction and
/// handed to Hangfire after it commits (<see cref="PendingMails"/>), so the process dying between the two
/// can delay the confirmation but never lose it. Hangfire's storage is another database on SQLite, and a
/// second connection on PostgreSQL: neither can commit with the reader. The row stays until its job sent the
/// email, which is how a retry of a job carrying many knows which are left.
/// </summary>
public sealed class PendingMail
{
    public long Id { get; set; }

    public long SubscriberId { get; set; }

    public PendingMailKind Kind { get; set; }

    /// <summary>When it may go: now, or the end of the reader's resend interval.</summary>
    public DateTime DueAt { get; set; }

    /// <summary>
    /// The node handing it to Hangfire has it until then. Set at birth, so its writer hands it over without a
    /// race; a row still here after that was left by a process that died, and any node takes it. A row given
    /// to a job carries <see cref="PendingMails.HandedOver"/>.
    /// </summary>
    public DateTime ClaimedUntil { get; set; }
}

internal sealed class SignUpConfiguration : IEntityTypeConfiguration<SignUp>
{
    public void Configure(EntityTypeBuilder<SignUp> b)
    {
        b.Property(x => x.Email).HasMaxLength(254);
        b.Property(x => x.Name).HasMaxLength(200);
        b.Property(x => x.Source).HasMaxLength(40);
        b.Property(x => x.Topics).HasMaxLength(4000);
        b.Ignore(x => x.TopicList);
    }
}

internal sealed class PendingMailConfiguration : IEntityTypeConfiguration<PendingMail>
{
    public void Configure(EntityTypeBuilder<PendingMail> b) => b.HasIndex(x => x.ClaimedUntil);
}

using Newsletter.Web.Issues;
using Newsletter.Web.Notes;
using Newsletter.Web.Sending;
using Newsletter.Web.Subscribers;

namespace Newsletter.Web.Webhooks;

/// <summary>
/// The events a webhook can carry, and the one place that says which change is which event: the outbox
/// triggers of both providers are built from these mappings, so SQL and C# never disagree.
/// </summary>
public static class WebhookEventTypes
{
    public const string SubscriberCreated = "subscriber.created";
    public const string SubscriberConfirmed = "subscriber.confirmed";
    public const string SubscriberUnsubscribed = "subscriber.unsubscribed";
    public const string SubscriberBounced = "subscriber.bounced";
    public const string SubscriberComplained = "subscriber.complained";
    public const string SubscriberErased = "subscriber.erased";
    public const string SubscriberDeleted = "subscriber.deleted";
    public const string IssueScheduled = "issue.scheduled";
    public const string IssueSent = "issue.sent";
    public const string IssuePaused = "issue.paused";
    public const string IssueFailed = "issue.failed";
    public const string NotePublished = "note.published";

    /// <summary>Sent only by "send a test event"; no endpoint subscribes to it.</summary>
    public const string Test = "webhook.test";

    public static IReadOnlyList<string> All { get; } =
    [
        SubscriberCreated, SubscriberConfirmed, SubscriberUnsubscribed, SubscriberBounced, SubscriberComplained, SubscriberErased, SubscriberDeleted,
        IssueScheduled, IssueSent, IssuePaused, IssueFailed, NotePublished,
    ];

    /// <summary>History lines that are events. A new reader arrives by the form, an author or an import; all three are "created".</summary>
    public static IReadOnlyDictionary<SubscriberEventKind, string> FromHistory { get; } = new Dictionary<SubscriberEventKind, string>
    {
        [SubscriberEventKind.Subscribed] = SubscriberCreated,
        [SubscriberEventKind.AddedByAuthor] = SubscriberCreated,
        [SubscriberEventKind.Imported] = SubscriberCreated,
        [SubscriberEventKind.Confirmed] = SubscriberConfirmed,
        [SubscriberEventKind.Unsubscribed] = SubscriberUnsubscribed,
        [SubscriberEventKind.Bounced] = SubscriberBounced,
        [SubscriberEventKind.Complained] = SubscriberComplained,
    };

    /// <summary>
    /// Issue states that are events. A pause the sender made on its own (its reason starts with
    /// <see cref="IssueSender.AutomaticPause"/>: the relay is down, too many deliveries fail) is "failed".
    /// </summary>
    public static IReadOnlyDictionary<IssueStatus, string> FromIssueStatus { get; } = new Dictionary<IssueStatus, string>
    {
        [IssueStatus.Scheduled] = IssueScheduled,
        [IssueStatus.Sent] = IssueSent,
        [IssueStatus.Paused] = IssuePaused,
    };

    public static readonly NoteStatus PublishedNote = NoteStatus.Published;
}

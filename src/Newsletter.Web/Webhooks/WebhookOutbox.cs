using Microsoft.EntityFrameworkCore;
using Newsletter.Web.Data;

namespace Newsletter.Web.Webhooks;

/// <summary>The outbox rows C# writes itself: the ones no trigger can (an erase or a delete leaves no row to fire on, a test event, a resend).</summary>
public static class WebhookOutbox
{
    /// <summary>
    /// In the erase's transaction: first the reader's stored bodies and answers go (they may hold the address),
    /// then one "subscriber.erased" row per endpoint that wants it, carrying only the id and the keyed hash.
    /// </summary>
    public static async Task EraseAsync(AppDbContext db, long subscriberId, string addressHash, DateTime at, CancellationToken ct)
    {
        await db.WebhookDeliveries.Where(d => d.SubscriberId == subscriberId)
            .ExecuteUpdateAsync(u => u.SetProperty(d => d.Payload, (string?)null).SetProperty(d => d.ResponseBody, (string?)null), ct);
        var payload = WebhookDispatcher.Serialize(WebhookEventTypes.SubscriberErased, at, new { subscriber = new { id = subscriberId, addressHash } });
        var endpoints = await db.WebhookEndpoints.AsNoTracking().Where(e => e.Enabled).ToListAsync(ct);
        foreach (var endpoint in endpoints.Where(e => e.Wants(WebhookEventTypes.SubscriberErased)))
        {
            db.WebhookDeliveries.Add(New(endpoint.Id, WebhookEventTypes.SubscriberErased, at, payload, subscriberId));
        }

        await db.SaveChangesAsync(ct);
    }

    /// <summary>In the delete's transaction: one "subscriber.deleted" row per endpoint that wants it, with the id and the address.</summary>
    public static async Task DeletedAsync(AppDbContext db, long subscriberId, string email, DateTime at, CancellationToken ct)
    {
        var payload = WebhookDispatcher.Serialize(WebhookEventTypes.SubscriberDeleted, at, new { subscriber = new { id = subscriberId, email } });
        var endpoints = await db.WebhookEndpoints.AsNoTracking().Where(e => e.Enabled).ToListAsync(ct);
        foreach (var endpoint in endpoints.Where(e => e.Wants(WebhookEventTypes.SubscriberDeleted)))
        {
            db.WebhookDeliveries.Add(New(endpoint.Id, WebhookEventTypes.SubscriberDeleted, at, payload, subscriberId));
        }

        await db.SaveChangesAsync(ct);
    }

    /// <summary>A "webhook.test" event for one endpoint, delivered like any other.</summary>
    public static async Task<long> TestAsync(AppDbContext db, int endpointId, DateTime at, CancellationToken ct)
    {
        var row = New(endpointId, WebhookEventTypes.Test, at, WebhookDispatcher.Serialize(WebhookEventTypes.Test, at, new { message = "A test event from the newsletter's webhooks page." }));
        db.WebhookDeliveries.Add(row);
        await db.SaveChangesAsync(ct);
        return row.Id;
    }

    /// <summary>
    /// "Send again": a delivered or failed row goes back to Pending, due now, with a fresh 24 hours of retries.
    /// Same row, same <c>webhook-id</c> and body, so a receiver that has it already can tell.
    /// </summary>
    public static async Task<bool> SendAgainAsync(AppDbContext db, long deliveryId, DateTime at, CancellationToken ct) =>
        await db.WebhookDeliveries.Where(d => d.Id == deliveryId && (d.Status == WebhookDeliveryStatus.Delivered || d.Status == WebhookDeliveryStatus.Failed))
            .ExecuteUpdateAsync(u => u.SetProperty(d => d.Status, WebhookDeliveryStatus.Pending).SetProperty(d => d.NextAttemptAtMs, 0L)
                .SetProperty(d => d.Attempts, 0).SetProperty(d => d.CreatedAt, at), ct) == 1;

    private static WebhookDelivery New(int endpointId, string type, DateTime at, string payload, long? subscriberId = null) => new()
    {
        EndpointId = endpointId,
        EventType = type,
        SubscriberId = subscriberId,
        OccurredAt = at,
        CreatedAt = at,
        Status = WebhookDeliveryStatus.Pending,
        Payload = payload,
    };
}

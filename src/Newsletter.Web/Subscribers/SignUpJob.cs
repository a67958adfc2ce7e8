using Hangfire.Common;
using Hangfire.States;
using Hangfire.Storage;

namespace Newsletter.Web.Subscribers;

/// <summary>
/// A sign-up from the public form, taken after the request has answered. The request only checks the address,
/// counts its limits and enqueues this job, so it does the same work, in the same time, whether the address
/// is new, already on the list, pending or suppressed: the answer can't be timed to learn who reads the
/// newsletter. The job is stored before the answer is sent, so a sign-up survives the process dying at once;
/// Hangfire retries it if the database is busy.
/// </summary>
public sealed class SignUpJob(ReaderLifecycle readers, ILogger<SignUpJob> logger)
{
    [ForgetArguments]
    public async Task SubscribeAsync(string email, string? name, string source, CancellationToken ct)
    {
        var outcome = await readers.SubscribeAsync(email, name, source, ct);
        logger.LogInformation("Subscribe request from {Source}: {Outcome}", source, outcome);
    }

    /// <summary>A sign-up with the topics ticked on the form (already checked against those offered); they become a new reader's tags.</summary>
    [ForgetArguments]
    public async Task SubscribeAsync(string email, string? name, string source, string[] topics, CancellationToken ct)
    {
        var outcome = await readers.SubscribeAsync(email, name, source, ct, topics);
        logger.LogInformation("Subscribe request from {Source} with {Topics} topics: {Outcome}", source, topics.Length, outcome);
    }
}

/// <summary>
/// The job's arguments hold an address, so the finished job is deleted within minutes instead of the day
/// Hangfire keeps succeeded jobs: an erased reader's address must not wait in the job storage.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class ForgetArgumentsAttribute : JobFilterAttribute, IApplyStateFilter
{
    public void OnStateApplied(ApplyStateContext context, IWriteOnlyTransaction transaction)
    {
        if (context.NewState is SucceededState or DeletedState)
        {
            context.JobExpirationTimeout = TimeSpan.FromMinutes(1);
        }
    }

    public void OnStateUnapplied(ApplyStateContext context, IWriteOnlyTransaction transaction)
    {
    }
}

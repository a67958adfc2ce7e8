namespace Newsletter.Testing;

/// <summary>A clock the test moves by hand: what happens at a moment is then decided by the test, not by the machine's speed.</summary>
public sealed class SteppedClock(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;

    public override DateTimeOffset GetUtcNow() => Now;
}

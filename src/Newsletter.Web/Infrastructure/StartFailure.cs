using Microsoft.Extensions.Options;
using Newsletter.Mail;
using Newsletter.Web.Mail;

namespace Newsletter.Web.Infrastructure;

/// <summary>
/// Settings that stop the start end the process with their sentence on stderr and exit code 78 (EX_CONFIG), not
/// with an unhandled exception: that printed thirty lines of stack around the one sentence that mattered, aborted
/// with 134 (a core dump where they are on), and under systemd's Restart=on-failure it started again every few
/// seconds with the same mistake. The unit file says RestartPreventExitStatus=78. Anything else that stops the start
/// (a database that is down, a bug) still ends as it did, with its stack and a restart.
/// </summary>
public static class StartFailure
{
    /// <summary>EX_CONFIG in sysexits.h: the configuration is wrong, starting again won't help.</summary>
    public const int BadSettingsExitCode = 78;

    /// <summary>
    /// Only an exception nothing caught reaches this, so it acts in the real process and not under the tests'
    /// WebApplicationFactory, which catches what the entry point throws and hands it to the test.
    /// </summary>
    public static void SayWhyWhenSettingsStopTheStart() =>
        AppDomain.CurrentDomain.UnhandledException += (_, e) =>
        {
            if (Explain(e.ExceptionObject as Exception) is { } why)
            {
                Console.Error.WriteLine($"Newsletter can't start: {why}");
                Console.Error.WriteLine("Change the setting in appsettings.json, or in its environment variable (Section__Key), and start again.");
                Console.Error.Flush();
                Environment.Exit(BadSettingsExitCode);
            }

            if (Find<BrokenDatabaseException>(e.ExceptionObject as Exception) is { } broken)
            {
                Console.Error.WriteLine($"Newsletter can't start: {broken.Message}");
                Console.Error.Flush();
                Environment.Exit(BadSettingsExitCode);
            }

            if (Find<NewerDatabaseException>(e.ExceptionObject as Exception) is { } newer)
            {
                // Starting again won't help either: this build must not write to a schema it does not know.
                Console.Error.WriteLine($"Newsletter can't start: {newer.Message}");
                Console.Error.Flush();
                Environment.Exit(BadSettingsExitCode);
            }

            if (Find<UnreachableDatabaseException>(e.ExceptionObject as Exception) is { } down)
            {
                // Not a setting for certain: the server may be starting. 75 (EX_TEMPFAIL) lets systemd try again.
                Console.Error.WriteLine($"Newsletter can't start: {down.Message}");
                Console.Error.Flush();
                Environment.Exit(UnreachableDatabaseExitCode);
            }

            // Kestrel's "Failed to bind to address http://…: address already in use.", which names the address.
            if (Causes(e.ExceptionObject as Exception).FirstOrDefault(c => c is Microsoft.AspNetCore.Connections.AddressInUseException || c.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException) is { } taken)
            {
                // Most often the old node of a deploy, still stopping: 75 lets systemd try again once it is gone.
                Console.Error.WriteLine($"Newsletter can't start: {taken.Message} Another process (an older Newsletter still running?) listens there; stop it, or give this one another address in ASPNETCORE_URLS.");
                Console.Error.Flush();
                Environment.Exit(UnreachableDatabaseExitCode);
            }
        };

    /// <summary>EX_TEMPFAIL: the database did not answer, or the port is taken; starting again later may work.</summary>
    public const int UnreachableDatabaseExitCode = 75;

    private static T? Find<T>(Exception? e) where T : Exception => Causes(e).OfType<T>().FirstOrDefault();

    /// <summary>The exception and every one it wraps, outermost first, an aggregate's in their order.</summary>
    private static IEnumerable<Exception> Causes(Exception? e)
    {
        if (e is null)
        {
            yield break;
        }

        yield return e;
        var inner = e is AggregateException all ? all.InnerExceptions.SelectMany(Causes) : Causes(e.InnerException);
        foreach (var cause in inner)
        {
            yield return cause;
        }
    }

    /// <summary>
    /// The checks the host would make while starting, made before it starts: when they fail there, the host logs
    /// the exception with its stack first, and the database has already been migrated and the notes imported.
    /// </summary>
    public static void CheckSettings(IServiceProvider services)
    {
        services.GetService<IStartupValidator>()?.Validate();
        services.GetRequiredService<TemplateCheck>().Run();
    }

    /// <summary>The sentence to print when the exception (or one it wraps) is a setting's fault; null otherwise.</summary>
    public static string? Explain(Exception? e) => Causes(e).Select(Sentence).FirstOrDefault(why => why is not null);

    private static string? Sentence(Exception e) => e switch
    {
        SettingsException or TemplateException => e.Message,
        OptionsValidationException options => string.Join(" ", options.Failures),
        // The configuration binder's own: "Failed to convert configuration value at 'Sending:BatchSize' to type 'System.Int32'."
        InvalidOperationException when e.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal) =>
            e.InnerException is { } inner ? $"{e.Message} {inner.Message}" : e.Message,
        _ => null,
    };
}

/// <summary>The database could not be opened at start: the server is down or not reachable with these settings.</summary>
public sealed class UnreachableDatabaseException(string message, Exception inner) : InvalidOperationException(message, inner);

/// <summary>The database file is not a database, or is damaged: a file or a setting to fix, not a server to wait for.</summary>
public sealed class BrokenDatabaseException(string message, Exception inner) : InvalidOperationException(message, inner);

/// <summary>
/// The database holds migrations this build does not have: a newer version ran on it and this one is older (a
/// deploy rolled back, an old binary started by mistake). Its schema may not be what this build reads and writes.
/// </summary>
public sealed class NewerDatabaseException(string message) : InvalidOperationException(message);

namespace Newsletter.Web.Infrastructure;

/// <summary>What a verb takes: how many plain arguments, which flags, and which options with a value.</summary>
public sealed record VerbSpec(string Usage, int MinArguments = 0, int MaxArguments = 0, string[]? Flags = null, string[]? Options = null);

/// <summary>
/// The words after `Newsletter.Web.dll`: configuration switches (`--Section:Key=value`, `--urls URL`), then
/// perhaps a verb with its own arguments. Strict about the verb's own words, since a misspelt option read as
/// configuration is silently lost: `import-posts feed.xml --dryrun` imported for real, and
/// `import-subscribers list.csv --activ` mailed everyone a confirmation.
/// </summary>
public sealed class VerbArguments
{
    public static readonly IReadOnlyDictionary<string, VerbSpec> Verbs = new Dictionary<string, VerbSpec>(StringComparer.Ordinal)
    {
        ["migrate"] = new("migrate"),
        ["import-notes"] = new("import-notes"),
        ["export-notes"] = new("export-notes"),
        ["process-inbound"] = new("process-inbound < message.eml"),
        ["import-subscribers"] = new("import-subscribers FILE [--active --consent \"where they agreed\"] [--tags a,b]", 1, 1, ["--active"], ["--consent", "--tags"]),
        ["import-posts"] = new("import-posts FILE|URL [--as issues|notes] [--dry-run]", 1, 1, ["--dry-run"], ["--as"]),
        ["backup"] = new("backup [FOLDER | FILE.tar.gz]", 0, 1),
        ["restore"] = new("restore FILE.tar.gz", 1, 1),
    };

    // The host's own switches that take a value without a ':' in their name (--urls http://..., --environment X).
    private static readonly HashSet<string> HostSwitches = new(StringComparer.OrdinalIgnoreCase) { "--urls", "--environment", "--contentRoot", "--applicationName" };

    private VerbArguments(string verb) => Verb = verb;

    public string Verb { get; }

    public List<string> Arguments { get; } = [];

    public HashSet<string> Flags { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, string> Options { get; } = new(StringComparer.Ordinal);

    public string? Argument(int index) => index < Arguments.Count ? Arguments[index] : null;

    public string? Option(string name) => Options.GetValueOrDefault(name);

    public static string Help => "Commands (after `dotnet run --project src/Newsletter.Web --`, or `dotnet Newsletter.Web.dll`):\n"
        + string.Join('\n', Verbs.Values.Select(v => "  " + v.Usage))
        + "\nWithout a command the app serves. Configuration switches (--Section:Key=value) may come before or after a command.";

    /// <summary>
    /// The verb and its words, or null with no error when the words are all configuration (the app serves).
    /// An unknown verb or option, a missing value or a missing or extra argument is an error, said in a sentence.
    /// </summary>
    public static VerbArguments? Parse(string[] args, out string? error)
    {
        error = null;
        var i = VerbIndex(args);
        var verb = i < args.Length ? (args[i] is "--help" or "-h" or "-?" ? "help" : args[i]) : null;
        if (verb is null)
        {
            return null;
        }

        if (verb == "help")
        {
            return new VerbArguments("help");
        }

        if (!Verbs.TryGetValue(verb, out var spec))
        {
            error = $"Unknown command '{verb}'.\n{Help}";
            return null;
        }

        var parsed = new VerbArguments(verb);
        for (var j = i + 1; j < args.Length; j++)
        {
            var a = args[j];
            if (spec.Flags?.Contains(a) == true)
            {
                parsed.Flags.Add(a);
            }
            else if (spec.Options?.Contains(a) == true)
            {
                if (j + 1 >= args.Length || args[j + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    error = $"{verb}: {a} needs a value.\nUsage: {spec.Usage}";
                    return null;
                }

                parsed.Options[a] = args[++j];
            }
            else if (a.StartsWith("--", StringComparison.Ordinal) && (a.Contains(':') || a.Contains('=') || HostSwitches.Contains(a)))
            {
                // Configuration for this run (--Data:Folder=/srv/nl/data); a --key without '=' takes the next word.
                j += a.Contains('=') ? 0 : 1;
            }
            else if (a.StartsWith('-') && a.Length > 1)
            {
                error = $"{verb}: unknown option '{a}'.\nUsage: {spec.Usage}";
                return null;
            }
            else
            {
                parsed.Arguments.Add(a);
            }
        }

        if (parsed.Arguments.Count < spec.MinArguments || parsed.Arguments.Count > spec.MaxArguments)
        {
            error = parsed.Arguments.Count < spec.MinArguments
                ? $"{verb}: {(spec.MinArguments == 1 ? "name the file" : "arguments are missing")}.\nUsage: {spec.Usage}"
                : $"{verb}: one argument too many ('{parsed.Arguments[spec.MaxArguments]}').\nUsage: {spec.Usage}";
            return null;
        }

        return parsed;
    }

    /// <summary>
    /// Where the verb stands (or help was asked for): after the configuration words, each `--key=value` or
    /// `--key value` or `key=value`, as the host's command-line configuration reads them, except that a verb's
    /// name is never taken for a value. args.Length when there is no verb.
    /// </summary>
    private static int VerbIndex(string[] args)
    {
        var i = 0;
        while (i < args.Length)
        {
            var a = args[i];
            if (a is "--help" or "-h" or "-?" or "help")
            {
                return i;
            }

            if (a.StartsWith('-'))
            {
                i += a.Contains('=') || (i + 1 < args.Length && Verbs.ContainsKey(args[i + 1])) ? 1 : 2;
            }
            else if (a.Contains('='))
            {
                i++;
            }
            else
            {
                return i;
            }
        }

        return args.Length;
    }

    /// <summary>
    /// Only the words that are configuration, for the host's builder. Given the whole line, .NET's command-line
    /// configuration read a verb's own words too: a path starting with '/' is a `/key value` switch to it, so
    /// `backup /tmp/bk --Data:Folder=/srv/nl/data` swallowed the data folder as the path's value and backed up
    /// the default data folder instead, and `restore` filled the wrong one.
    /// </summary>
    public static string[] ConfigurationOf(string[] args)
    {
        var i = VerbIndex(args);
        var words = args[..Math.Min(i, args.Length)].ToList();
        var spec = i < args.Length ? Verbs.GetValueOrDefault(args[i]) : null;
        for (var j = i + 1; j < args.Length; j++)
        {
            var a = args[j];
            if (spec?.Options?.Contains(a) == true)
            {
                j++;
            }
            else if (spec?.Flags?.Contains(a) != true && a.StartsWith("--", StringComparison.Ordinal) && (a.Contains(':') || a.Contains('=') || HostSwitches.Contains(a)))
            {
                words.Add(a);
                if (!a.Contains('=') && j + 1 < args.Length)
                {
                    words.Add(args[++j]);
                }
            }
        }

        return [.. words];
    }

    /// <summary>
    /// A file named on the command line: relative to the folder the command was typed in (`dotnet run` keeps it,
    /// see RunWorkingDirectory in the project). Missing, the sentence says where it was looked for.
    /// </summary>
    public static string? ExistingFile(string name, out string? error)
    {
        var full = Path.GetFullPath(name);
        error = File.Exists(full) ? null : $"file '{name}' not found (looked for {full}).";
        return error is null ? full : null;
    }
}

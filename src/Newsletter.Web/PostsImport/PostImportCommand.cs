namespace Newsletter.Web.PostsImport;

/// <summary>`import-posts FILE|URL [--as issues|notes] [--dry-run]`: the same plan and import as the admin page.</summary>
public static class PostImportCommand
{
    public static async Task<int> RunAsync(Infrastructure.VerbArguments args, IServiceProvider services)
    {
        var source = args.Argument(0)!;
        var targetText = args.Option("--as") ?? "issues";
        if (targetText is not ("issues" or "notes"))
        {
            Console.Error.WriteLine($"import-posts: --as takes issues or notes, not '{targetText}'.\nUsage: import-posts FILE|URL [--as issues|notes] [--dry-run]   (a Substack zip, a Ghost JSON export, or an RSS/Atom feed)");
            return 2;
        }

        var target = targetText == "notes" ? PostTarget.Notes : PostTarget.Issues;
        var files = services.GetRequiredService<PostImportFiles>();
        var importer = services.GetRequiredService<PostImporter>();
        try
        {
            var (name, content) = await files.LoadAsync(source, CancellationToken.None);
            var plan = await importer.PlanAsync(PostSources.Read(name, content, files.MaxBytes), target, CancellationToken.None);
            Console.WriteLine($"{plan.Platform}: {plan.Posts.Count} posts, {plan.ToCreate} to import as {targetText}.");
            foreach (var p in plan.Posts)
            {
                Console.WriteLine($"  {p.Day:yyyy-MM-dd}  {p.Slug,-40}  {(p.Number is { } n ? "#" + n + "  " : "")}{p.Post.Title}  ({p.Explanation})");
            }

            if (args.Flags.Contains("--dry-run"))
            {
                foreach (var problem in plan.Problems)
                {
                    Console.Error.WriteLine(problem);
                }

                return 0;
            }

            var result = await importer.CommitAsync(plan, "import-posts", CancellationToken.None);
            Console.WriteLine(result);
            foreach (var problem in result.Problems)
            {
                Console.Error.WriteLine(problem);
            }

            return 0;
        }
        catch (PostImportException e)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }
    }
}

using System.Net;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Newsletter.Tests.Api;
using Newsletter.Testing;
using Newsletter.Web.Api;
using Newsletter.Web.Data;
using Newsletter.Web.Data.Providers;
using Newsletter.Web.Subscribers.Import;

namespace Newsletter.Tests.Subscribers;

/// <summary>
/// Two PostgreSQL nodes that share the database and nothing else, as two hosts behind a load balancer do: each
/// has a data folder of its own. An import uploaded to one is run by the other and its errors download from
/// either, with no folder to share.
/// </summary>
public class ImportAcrossNodesTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AnUploadTakenByOneNodeIsImportedByAnotherWithADataFolderOfItsOwn()
    {
        // Node A takes the upload and runs no jobs; node B runs them. The jobs follow the data into PostgreSQL.
        using var nodeA = new NewsletterApp(new() { ["Jobs:Storage"] = null, ["Jobs:Server"] = "false" }, provider: DatabaseProvider.PostgreSql);
        var apiA = await ApiClients.ClientAsync(nodeA, ApiScopes.Read | ApiScopes.Write);
        var csv = "email,name\nada@example.org,Ada\nbroken@\ngrace@example.org,Grace\n";
        var upload = await apiA.PostAsync("/api/v1/imports?active=true&consent=met%20at%20a%20talk",
            new StringContent(csv, Encoding.UTF8, "text/csv"), Ct);
        Assert.Equal(HttpStatusCode.Accepted, upload.StatusCode);
        var importUrl = upload.Headers.Location!.ToString();

        var settingsB = nodeA.SecondNode(new() { ["Jobs:Storage"] = null });
        settingsB["Data:Folder"] = Path.Combine(nodeA.Root, "data-b");
        using var nodeB = new NewsletterApp(settingsB);
        var apiB = ApiClients.With(nodeB, await ApiClients.TokenAsync(nodeA, ApiScopes.Read));
        var import = await ApiClients.PollAsync(apiB, importUrl, b => b.GetProperty("done").GetBoolean());
        Assert.True(import.GetProperty("status").GetString() == "Completed", $"{import}\n{nodeB.ServerLog}");
        Assert.Equal((2, 1), (import.GetProperty("imported").GetInt32(), import.GetProperty("invalid").GetInt32()));

        // The refused row downloads from either node, though only node B read the file.
        foreach (var api in new[] { apiA, apiB })
        {
            var errors = await api.GetStringAsync(importUrl + "/errors", Ct);
            Assert.Contains("3,broken@,", errors, StringComparison.Ordinal);
        }

        // Nothing of it lies in either node's folder, and the upload itself is gone from the database once read:
        // it held every address of the file.
        foreach (var folder in new[] { nodeA.DataFolder, settingsB["Data:Folder"]! })
        {
            var imports = Path.Combine(folder, "imports");
            Assert.Empty(Directory.Exists(imports) ? Directory.GetFiles(imports, "*", SearchOption.AllDirectories) : []);
        }

        await using var scope = nodeB.Services.CreateAsyncScope();
        var files = scope.ServiceProvider.GetRequiredService<ImportFiles>();
        var id = int.Parse(importUrl.Split('/').Last(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.False(await files.ExistsAsync(SubscriberImporter.UploadName(id), Ct));
        Assert.True(await files.ExistsAsync(SubscriberImporter.ErrorsName(id), Ct));
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(2, await db.Subscribers.CountAsync(Ct));
    }
}

using Newsletter.Web.Content;

namespace Newsletter.Web.Notes;

public static class NotesExtensions
{
    public static WebApplicationBuilder AddNotes(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<MarkdownRenderer>();
        builder.Services.AddContentChanges(builder.Configuration);
        builder.Services.AddScoped<NoteImporter>();
        builder.Services.AddScoped<NoteExporter>();
        builder.Services.AddScoped<NoteEditor>();
        return builder;
    }
}

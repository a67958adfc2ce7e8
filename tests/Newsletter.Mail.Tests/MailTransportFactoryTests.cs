using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Newsletter.Testing;

namespace Newsletter.Mail.Tests;

public class MailTransportFactoryTests
{
    [Theory]
    [InlineData("Pickup", typeof(PickupTransport))]
    [InlineData("pickup", typeof(PickupTransport))]
    [InlineData("Smtp", typeof(SmtpTransport))]
    [InlineData("SMTP", typeof(SmtpTransport))]
    public async Task PicksTheTransportNamedInConfiguration(string name, Type expected)
    {
        var options = TestMail.Options(RepoPaths.TempDir("pickup"));
        options.Transport = name;

        await using var transport = MailTransportFactory.Create(options, NullLoggerFactory.Instance);

        Assert.IsType(expected, transport);
    }

    [Fact]
    public void RefusesAnUnknownTransport()
    {
        var options = TestMail.Options();
        options.Transport = "Carrier pigeon";

        var e = Assert.Throws<SettingsException>(() => MailTransportFactory.Create(options, NullLoggerFactory.Instance));
        Assert.Contains("'Carrier pigeon'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheDefaultsMatchAppsettings()
    {
        var options = new MailOptions();
        Assert.Equal("Pickup", options.Transport);
        Assert.Equal(25, options.Smtp.Port);
        Assert.Equal("Auto", options.Smtp.Security);
        Assert.False(options.Smtp.AllowInvalidCertificates);
        Assert.Equal(4, options.Smtp.PoolSize);
        Assert.Equal(TimeSpan.FromSeconds(30), options.Smtp.IdleTimeout);
        Assert.False(options.Dkim.Enabled);
    }

    [Fact]
    public async Task WarnsWhenCertificateChecksAreTurnedOff()
    {
        await using var server = await SmtpServerFixture.StartAsync();
        using var logs = new ListLoggerFactory();
        var options = TestMail.Options();
        options.Transport = "Smtp";
        options.Smtp = new SmtpOptions { Host = server.Host, Port = server.Port, Security = "None", AllowInvalidCertificates = true };
        await using var transport = MailTransportFactory.Create(options, logs);

        await transport.SendAsync(TestMail.Build(), null, TestContext.Current.CancellationToken);
        await transport.SendAsync(TestMail.Build(TestMail.Issue("other@example.org")), null, TestContext.Current.CancellationToken);

        var warning = Assert.Single(logs.Entries, e => e.Level == LogLevel.Warning);
        Assert.Contains("AllowInvalidCertificates", warning.Message, StringComparison.Ordinal);
    }

    private sealed class ListLoggerFactory : ILoggerFactory
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = [];

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        private sealed class Logger(ListLoggerFactory provider) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                lock (provider.Entries)
                {
                    provider.Entries.Add((logLevel, formatter(state, exception)));
                }
            }
        }
    }
}

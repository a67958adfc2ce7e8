# syntax=docker/dockerfile:1
# The app in a container: built with the SDK, run on the ASP.NET runtime image as its non-root user.
# Build: docker build -t newsletter .        Run several nodes: see compose.yaml and the README.

FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG TARGETARCH
WORKDIR /src
# Project files first, so the restore layer is reused until a dependency changes.
COPY Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/Newsletter.Web/Newsletter.Web.csproj src/Newsletter.Web/
COPY src/Newsletter.Mail/Newsletter.Mail.csproj src/Newsletter.Mail/
COPY src/Newsletter.Hangfire.Sqlite/Newsletter.Hangfire.Sqlite.csproj src/Newsletter.Hangfire.Sqlite/
# ReadyToRun at restore too: it brings the crossgen package that publish needs.
RUN dotnet restore src/Newsletter.Web/Newsletter.Web.csproj -a $TARGETARCH -p:PublishReadyToRun=true
COPY src/ src/
# ReadyToRun: a node restarts in about 0.6 of the time (the README's coldstart benchmark).
RUN dotnet publish src/Newsletter.Web/Newsletter.Web.csproj -c Release -a $TARGETARCH --no-restore \
        --self-contained false -p:PublishReadyToRun=true -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
# curl only for the health check below; the runtime image has no HTTP client of its own.
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app ./
# The app's home (NEWSLETTER_ROOT): configuration, email templates and sample notes. data/ is the volume
# for data-protection keys and the mail pickup folder; the databases are PostgreSQL's (compose.yaml).
ENV NEWSLETTER_ROOT=/srv/newsletter \
    ASPNETCORE_HTTP_PORTS=8080
COPY appsettings.json /srv/newsletter/
COPY templates/ /srv/newsletter/templates/
COPY notes/ /srv/newsletter/notes/
RUN mkdir -p /srv/newsletter/data && chown -R $APP_UID /srv/newsletter/data
VOLUME /srv/newsletter/data
# The images' own unprivileged user (UID 1654); nothing here runs as root.
USER $APP_UID
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health/ready || exit 1
ENTRYPOINT ["dotnet", "/app/Newsletter.Web.dll"]

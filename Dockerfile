# syntax=docker/dockerfile:1
# Build: docker build -t tpt .
# Run:   docker run --rm -p 8443:8443 -p 8081:8081 tpt
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/TlsProxyTunnel/TlsProxyTunnel.csproj src/TlsProxyTunnel/
RUN dotnet restore src/TlsProxyTunnel/TlsProxyTunnel.csproj
COPY src/ src/
RUN dotnet publish src/TlsProxyTunnel/TlsProxyTunnel.csproj -c Release -o /out --no-restore

FROM mcr.microsoft.com/dotnet/runtime:10.0-noble-chiseled AS runtime
COPY container-files/ /
COPY --from=build /out /app
# The chiseled image's built-in non-root user ("app", uid 1654).
USER 1654
WORKDIR /tmp
EXPOSE 8443 8081
# No arguments: tpt finds /etc/tpt/config.yaml, or $TPT_CONFIG.
ENTRYPOINT ["dotnet", "/app/tpt.dll"]

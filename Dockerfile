# syntax=docker/dockerfile:1
#
# Build:  docker build -t tpt .
#         docker buildx build --platform linux/amd64,linux/arm64 -t tpt .   (both architectures)
# Run:    docker run --rm -p 8443:8443 -p 8081:8081 tpt
#
# No Docker engine runs in CI, so two checks stand in for a build. deploy/container/verify.sh (run by
# .ci/run) copies the build stage's COPY sources (bin/ and obj/ left out, as .dockerignore does) into a
# temporary directory, runs the build stage's RUN commands there with /bin/sh and this file's ARG
# defaults, and starts the result on container-files/; keep build-stage paths relative to WORKDIR.
# tests/TlsProxyTunnel.IntegrationTests/Packaging/ContainerImageTests.cs checks this file statically
# (COPY sources against .dockerignore, USER, ENTRYPOINT, EXPOSE) and the container configuration.

# The SDK runs on the build machine's own architecture and cross-publishes for the target one
# (a self-contained, non-AOT publish needs no emulation), which is much faster than building under QEMU.
FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:10.0 AS build
# Set by BuildKit from --platform (amd64, arm64); empty with the legacy builder, which builds for amd64.
ARG TARGETARCH
# Shared by restore and publish: the --no-restore publish needs what restore fetched for exactly these
# properties (the runtime pack for self-contained, the ILLink package for trimming). Trimming is safe
# here because the publish is warning-free and warnings are errors (Directory.Build.props).
ARG PUBLISH_PROPERTIES="-p:SelfContained=true -p:PublishSingleFile=true -p:PublishTrimmed=true -p:DebugType=none"
WORKDIR /src
# Docker architecture name -> .NET runtime identifier, kept in a file so that every later RUN agrees.
RUN case "${TARGETARCH:-amd64}" in \
      amd64) echo linux-x64 ;; \
      arm64) echo linux-arm64 ;; \
      *) echo "tpt: unsupported TARGETARCH '${TARGETARCH}' (amd64 or arm64)" >&2; exit 1 ;; \
    esac > rid
# Restore in its own layer, from the project file and the shared props only, so that code changes
# do not download the packages again.
COPY Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/TlsProxyTunnel/TlsProxyTunnel.csproj src/TlsProxyTunnel/
RUN dotnet restore src/TlsProxyTunnel/TlsProxyTunnel.csproj -r "$(cat rid)" $PUBLISH_PROPERTIES
COPY src/TlsProxyTunnel/ src/TlsProxyTunnel/
RUN dotnet publish src/TlsProxyTunnel/TlsProxyTunnel.csproj --no-restore -c Release -r "$(cat rid)" $PUBLISH_PROPERTIES -o out

# Self-contained, so the runtime image only needs the native dependencies: runtime-deps, chiseled
# (no shell, no package manager, ~13 MB). It defines the non-root user "app" (APP_UID=1654).
FROM mcr.microsoft.com/dotnet/runtime-deps:10.0-noble-chiseled AS runtime
COPY container-files/ /
COPY --from=build /src/out/tpt /app/tpt
USER $APP_UID
# tpt writes nothing at run time (a read-only root file system works). The working directory only
# matters for ./tpt.yaml and ./config.yaml, the last places tpt looks for a configuration.
WORKDIR /app
# The listen ports of container-files/etc/tpt/config.yaml: TLS router and health/ready/metrics.
EXPOSE 8443 8081
# No arguments: tpt finds /etc/tpt/config.yaml (container-files/), or the file $TPT_CONFIG names.
ENTRYPOINT ["/app/tpt"]

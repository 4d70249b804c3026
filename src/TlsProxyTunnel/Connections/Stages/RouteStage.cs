namespace TlsProxyTunnel.Connections.Stages;

/// <summary>Picks the route: the SNI's, else the server's default.</summary>
internal sealed class RouteStage : IClientStage
{
    public static readonly RouteStage Instance = new();

    public bool HoldsThread => false;

    public bool RunsOnEngine => true;

    public ValueTask<ConnectionOutcome?> RunAsync(ClientConnection connection)
    {
        var route = connection.Server.Select(connection.Sni);
        route.Metrics.OnTaken();
        connection.Route = route;
        return ValueTask.FromResult<ConnectionOutcome?>(null);
    }
}

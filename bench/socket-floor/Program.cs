using System.Net;
using System.Net.Sockets;

// What System.Net.Sockets alone keeps alive per idle routed connection: tpt holds two sockets per connection
// (client and upstream), each with a pending zero-byte receive and the send machinery cached by an earlier send.
// Managed bytes are measured after full collections, so the figure is the runtime's floor, before tpt's own state.
//   dotnet run -c Release --project bench/socket-floor
const int Connections = 2000;
using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
listener.Listen(4096);
var endPoint = (IPEndPoint)listener.LocalEndPoint!;

var peers = new List<Socket>();
var ours = new List<Socket>();
for (var i = 0; i < 2 * Connections; i++)
{
    var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    peer.Connect(endPoint);
    peers.Add(peer);
    ours.Add(listener.Accept());
}

var beforeAsync = ManagedBytes();
var pending = new List<Task<int>>();
foreach (var socket in ours)
{
    await socket.SendAsync(new byte[1]);
    pending.Add(socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).AsTask());
}

var afterAsync = ManagedBytes();

var bare = new List<Socket>();
var beforeBare = ManagedBytes();
for (var i = 0; i < 2 * Connections; i++)
{
    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    socket.Connect(endPoint);
    bare.Add(socket);
}

var afterBare = ManagedBytes();
var asyncState = (afterAsync - beforeAsync) / (double)Connections;
var socketObjects = (afterBare - beforeBare) / (double)Connections;
Console.WriteLine($"per routed connection (2 sockets): async receive/send state {asyncState:F0} B + socket objects {socketObjects:F0} B = {asyncState + socketObjects:F0} B managed");
GC.KeepAlive(peers);
GC.KeepAlive(pending);

static long ManagedBytes()
{
    GC.Collect();
    GC.WaitForPendingFinalizers();
    GC.Collect();
    return GC.GetTotalMemory(forceFullCollection: true);
}

using TlsProxyTunnel.Hosting;

// Socket continuations run on the epoll thread instead of hopping to the thread pool: measured to cut the
// router's CPU per connection substantially (docs/benchmarks.md). Safe here because nothing on our data path
// blocks. The runtime reads this once, before the first socket exists; a value the user set wins.
const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
if (Environment.GetEnvironmentVariable(InlineCompletions) is null)
{
    Environment.SetEnvironmentVariable(InlineCompletions, "1");
}

return await TptApp.RunAsync(args, Environment.GetEnvironmentVariable, Console.Out, Console.Error);

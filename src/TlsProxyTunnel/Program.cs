using TlsProxyTunnel.Hosting;

return await TptApp.RunAsync(args, Environment.GetEnvironmentVariable, Console.Out, Console.Error);

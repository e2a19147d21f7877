using Gateway.Grpc.Server.Hosting;

try
{
    var app = GatewayApp.Build(args);
    await app.RunAsync().ConfigureAwait(false);
    return 0;
}
catch (GatewayConfigurationException ex)
{
    await Console.Error.WriteLineAsync("gateway: " + ex.Message).ConfigureAwait(false);
    return 2;
}
catch (IOException ex) when (ex.InnerException is System.Net.Sockets.SocketException || ex.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
{
    await Console.Error.WriteLineAsync("gateway: cannot bind: " + ex.Message + " Set grpcAddress/httpAddress (GATEWAY_GRPCADDRESS, GATEWAY_HTTPADDRESS) to free ports.").ConfigureAwait(false);
    return 3;
}

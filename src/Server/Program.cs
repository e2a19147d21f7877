using Gateway.Grpc.Observability.Audit;
using Gateway.Grpc.Server.Hosting;

if (args.Length > 0 && args[0] == "audit")
{
    // dotnet run --project src/Server -- audit verify <file>
    // dotnet run --project src/Server -- audit verify <file> --key env:AUDIT_KEY   (keyed trails)
    var secrets = new Gateway.Grpc.Adapters.Secrets.SecretResolver();
    return await AuditCommand.RunAsync(args[1..], Console.Out, Console.Error, reference =>
    {
        try
        {
            return secrets.Resolve(reference);
        }
        catch (Gateway.Grpc.Adapters.Secrets.SecretResolutionException ex)
        {
            throw new InvalidOperationException(ex.Message, ex);
        }
    }).ConfigureAwait(false);
}

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
catch (AuditTrailException ex)
{
    await Console.Error.WriteLineAsync("gateway: " + ex.Message).ConfigureAwait(false);
    return 2;
}
catch (IOException ex) when (ex.InnerException is System.Net.Sockets.SocketException || ex.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
{
    await Console.Error.WriteLineAsync("gateway: cannot bind: " + ex.Message + " Set grpcAddress/httpAddress (GATEWAY_GRPCADDRESS, GATEWAY_HTTPADDRESS) to free ports.").ConfigureAwait(false);
    return 3;
}

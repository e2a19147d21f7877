using Microsoft.Extensions.Options;

namespace Gateway.Grpc.Client.Internal;

/// <summary>Fails start-up with the option's name and the fix.</summary>
internal sealed class GatewayClientOptionsValidator : IValidateOptions<GatewayClientOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayClientOptions options)
    {
        var errors = new List<string>();
        if (options.Address is not { IsAbsoluteUri: true } address || (address.Scheme != Uri.UriSchemeHttp && address.Scheme != Uri.UriSchemeHttps))
        {
            errors.Add($"GatewayClientOptions.Address is '{options.Address}': set it to the gateway's gRPC address, e.g. http://127.0.0.1:50051 (h2c) or https://gateway.example.com.");
        }

        if (options.ApiKey is not null && string.IsNullOrWhiteSpace(options.ApiKey))
        {
            errors.Add("GatewayClientOptions.ApiKey is blank: set the key, or leave it null to send no authorization.");
        }

        if (options.DefaultTimeout is { } timeout && timeout <= TimeSpan.Zero)
        {
            errors.Add($"GatewayClientOptions.DefaultTimeout is {timeout}: use a positive duration, or null for no default deadline.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

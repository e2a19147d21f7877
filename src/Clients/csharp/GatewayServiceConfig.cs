using Grpc.Core;
using Grpc.Net.Client.Configuration;

namespace Gateway.Grpc.Client;

/// <summary>The service config the gateway clients use by default (gRFC A6 retries, as Grpc.Net.Client implements them).</summary>
public static class GatewayServiceConfig
{
    /// <summary>gateway.v1.Completion, for method configs.</summary>
    public const string CompletionService = "gateway.v1.Completion";

    /// <summary>gateway.v1.Models, for method configs.</summary>
    public const string ModelsService = "gateway.v1.Models";

    /// <summary>
    /// Retries <c>gateway.v1.Completion</c> and <c>gateway.v1.Models</c> calls that fail
    /// UNAVAILABLE: up to 3 attempts, exponential backoff from 0.5 s (jittered) to 5 s.
    /// </summary>
    /// <remarks>
    /// <para>UNAVAILABLE is what a restarting or unreachable gateway (connection refused, GOAWAY)
    /// and an exhausted upstream pool answer. A call is retried only until it commits, i.e. until
    /// response headers arrive, so a stream that has delivered events is never replayed.</para>
    /// <para>RESOURCE_EXHAUSTED is not retried: the gateway answers it for budgets and token caps
    /// (retrying cannot help) and for rate limits with a <c>retry-after-ms</c> trailer, which
    /// Grpc.Net.Client's backoff does not read (it honours only <c>grpc-retry-pushback-ms</c>).
    /// Read it with <see cref="GatewayMetadata.GetGatewayRetryAfter"/> and retry yourself.</para>
    /// </remarks>
    public static ServiceConfig CreateDefault() => new()
    {
        MethodConfigs =
        {
            new MethodConfig
            {
                Names = { new MethodName { Service = CompletionService }, new MethodName { Service = ModelsService } },
                RetryPolicy = new RetryPolicy
                {
                    MaxAttempts = 3,
                    InitialBackoff = TimeSpan.FromMilliseconds(500),
                    MaxBackoff = TimeSpan.FromSeconds(5),
                    BackoffMultiplier = 2,
                    RetryableStatusCodes = { StatusCode.Unavailable },
                },
            },
        },
    };
}

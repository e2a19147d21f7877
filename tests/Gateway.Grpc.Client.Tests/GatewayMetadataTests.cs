using Grpc.Core;

namespace Gateway.Grpc.Client.Tests;

public sealed class GatewayMetadataTests
{
    [Fact]
    public void GetGatewayAttempts_ParsesErrorHedgedAndFallback()
    {
        var trailers = new Metadata { { "gateway-attempts", "1:openai-east:failed:rate_limited,2:openai-west:cancelled:hedged,3:claude:success:fallback" } };

        var attempts = trailers.GetGatewayAttempts();

        Assert.Equal(
            [
                new GatewayAttempt(1, "openai-east", "failed", "rate_limited", false, false),
                new GatewayAttempt(2, "openai-west", "cancelled", null, true, false),
                new GatewayAttempt(3, "claude", "success", null, false, true),
            ],
            attempts);
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("x:dep:success")]
    public void GetGatewayAttempts_AbsentOrMalformed_Empty(string value)
    {
        var trailers = value.Length == 0 ? new Metadata() : new Metadata { { "gateway-attempts", value } };

        Assert.Empty(trailers.GetGatewayAttempts());
    }

    [Theory]
    [InlineData("2500", 2500)]
    [InlineData("-5", null)]
    [InlineData("soon", null)]
    [InlineData(null, null)]
    public void GetGatewayRetryAfter_OnlyNonNegativeIntegers(string? value, int? expectedMs)
    {
        var trailers = value is null ? new Metadata() : new Metadata { { "retry-after-ms", value } };

        Assert.Equal(expectedMs is { } ms ? TimeSpan.FromMilliseconds(ms) : null, trailers.GetGatewayRetryAfter());
    }

    [Fact]
    public void GetGatewayErrorKind_AbsentIsNull() => Assert.Null(new Metadata().GetGatewayErrorKind());
}

using Grpc.Core;
using Gateway.Grpc.Server.Dispatch;
using Gateway.Grpc.Server.Pipeline;
using Gateway.Grpc.Server.Rest;
using Microsoft.AspNetCore.Http;

namespace Gateway.Grpc.Rest.Tests;

public sealed class RestErrorMappingTests
{
    [Theory]
    [InlineData(StatusCode.InvalidArgument, 400, "invalid_request_error")]
    [InlineData(StatusCode.FailedPrecondition, 400, "invalid_request_error")]
    [InlineData(StatusCode.OutOfRange, 400, "invalid_request_error")]
    [InlineData(StatusCode.Unauthenticated, 401, "authentication_error")]
    [InlineData(StatusCode.PermissionDenied, 403, "permission_error")]
    [InlineData(StatusCode.NotFound, 404, "invalid_request_error")]
    [InlineData(StatusCode.AlreadyExists, 409, "invalid_request_error")]
    [InlineData(StatusCode.ResourceExhausted, 429, "rate_limit_error")]
    [InlineData(StatusCode.Unimplemented, 501, "invalid_request_error")]
    [InlineData(StatusCode.Unavailable, 503, "server_error")]
    [InlineData(StatusCode.DeadlineExceeded, 504, "timeout_error")]
    [InlineData(StatusCode.Internal, 500, "server_error")]
    [InlineData(StatusCode.Unknown, 500, "server_error")]
    [InlineData(StatusCode.DataLoss, 500, "server_error")]
    public void Shape_EachStatus_HasItsHttpStatusAndType(StatusCode code, int http, string type)
    {
        var shape = RestErrorMapping.Shape(code);
        Assert.Equal(http, shape.HttpStatus);
        Assert.Equal(type, shape.Type);
    }

    [Fact]
    public void FromRpc_Unauthenticated_401InvalidApiKey()
    {
        var error = RestErrorMapping.FromRpc(new RpcException(new Status(StatusCode.Unauthenticated, "authorization: the API key is not valid.")));
        Assert.Equal(401, error.HttpStatus);
        Assert.Equal("invalid_api_key", error.Code);
        Assert.Equal("authorization", error.Param);
    }

    [Fact]
    public void FromRpc_ResourceExhaustedWithTrailer_RetryAfterFromTrailer()
    {
        var trailers = new Metadata { { ErrorMapping.RetryAfterTrailer, "1500" }, { ErrorMapping.ErrorKindTrailer, "rate_limited" } };
        var error = RestErrorMapping.FromRpc(new RpcException(new Status(StatusCode.ResourceExhausted, "slow down"), trailers));
        Assert.Equal(429, error.HttpStatus);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), error.RetryAfter);
        Assert.Equal("rate_limited", error.Code);
    }

    [Theory]
    [InlineData("messages[2].role: must be set", "messages[2].role")]
    [InlineData("model: 'x' not found.", "model")]
    [InlineData("Upstream 'sim-1' failed (timeout): late", null)]
    [InlineData("no colon here", null)]
    public void ParamOf_ReadsTheLeadingFieldPath(string detail, string? param)
        => Assert.Equal(param, RestErrorMapping.ParamOf(detail));
}

public sealed class RestDeadlineTests
{
    [Theory]
    [InlineData("30", 30_000)]
    [InlineData("2.5", 2_500)]
    [InlineData("500ms", 500)]
    [InlineData("30s", 30_000)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    public void TryParseTimeout_ValidForms(string text, int milliseconds)
    {
        Assert.True(RestDeadline.TryParseTimeout(text, out var timeout));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), timeout);
    }

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("soon")]
    [InlineData("25h")]
    [InlineData("1e3")]
    public void TryParseTimeout_InvalidForms(string text)
        => Assert.False(RestDeadline.TryParseTimeout(text, out _));

    [Fact]
    public void Create_WithoutHeader_NoDeadline_TokenIsTheClientAbort()
    {
        var http = new DefaultHttpContext();
        using var deadline = RestDeadline.Create(http, TimeProvider.System, out var error);
        Assert.Null(error);
        Assert.Equal(DateTime.MaxValue, deadline.Deadline);
        Assert.Equal(http.RequestAborted, deadline.Token);
    }

    [Fact]
    public void Create_BadHeader_ErrorNamesTheHeader()
    {
        var http = new DefaultHttpContext();
        http.Request.Headers[RestDeadline.TimeoutHeader] = "soon";
        using var deadline = RestDeadline.Create(http, TimeProvider.System, out var error);
        Assert.Contains(RestDeadline.TimeoutHeader, error, StringComparison.Ordinal);
    }
}

public sealed class CallerHeadersTests
{
    [Fact]
    public void ApiKey_BearerThenXApiKey()
    {
        var http = new DefaultHttpContext();
        Assert.Null(CallerHeaders.ApiKey(http.Request));
        http.Request.Headers["x-api-key"] = "sk-from-x-api-key";
        Assert.Equal("sk-from-x-api-key", CallerHeaders.ApiKey(http.Request));
        http.Request.Headers.Authorization = "Bearer sk-123";
        Assert.Equal("sk-123", CallerHeaders.ApiKey(http.Request));
    }

    [Fact]
    public void ResolveRequestId_CallerIdKeptAndEchoed_SecondCallSameId()
    {
        var http = new DefaultHttpContext();
        http.Request.Headers["x-request-id"] = "req-42";
        Assert.Equal("req-42", CallerHeaders.ResolveRequestId(http));
        Assert.Equal("req-42", http.Response.Headers["x-request-id"].ToString());

        var fresh = new DefaultHttpContext();
        var made = CallerHeaders.ResolveRequestId(fresh);
        Assert.StartsWith("cmpl-", made, StringComparison.Ordinal);
        Assert.Equal(made, CallerHeaders.ResolveRequestId(fresh));
    }

    [Theory]
    [InlineData(129)]
    [InlineData(0)]
    public void ResolveRequestId_UnusableCallerId_Replaced(int length)
    {
        var http = new DefaultHttpContext();
        http.Request.Headers["x-request-id"] = new string('a', length);
        Assert.StartsWith("cmpl-", CallerHeaders.ResolveRequestId(http), StringComparison.Ordinal);
    }

    [Fact]
    public void ResolveRequestId_NonAsciiOrComma_Replaced()
    {
        var http = new DefaultHttpContext();
        http.Request.Headers["x-request-id"] = "a,b";
        Assert.StartsWith("cmpl-", CallerHeaders.ResolveRequestId(http), StringComparison.Ordinal);
    }
}

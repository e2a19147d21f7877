using Gateway.Grpc.Protocol;
using Gateway.Grpc.Server.Dispatch;
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

public sealed class RestServerCallContextTests
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
        Assert.True(RestServerCallContext.TryParseTimeout(text, out var timeout));
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
        => Assert.False(RestServerCallContext.TryParseTimeout(text, out _));

    [Fact]
    public void Create_HeadersBecomeMetadata_TransportHeadersLeftOut()
    {
        var http = new DefaultHttpContext();
        http.Request.Headers.Authorization = "Bearer sk-123";
        http.Request.Headers["X-Tenant"] = "team-a";
        http.Request.Headers.ContentType = "application/json";
        http.Request.Headers.Host = "gateway";
        http.Request.Headers["grpc-timeout"] = "1S";
        http.Request.Headers["trace-bin"] = "AQID";
        http.Request.Headers["x-bad"] = "caf\u00e9";
        var id = RestServerCallContext.ResolveRequestId(http);
        using var call = RestServerCallContext.Create(http, "/gateway.v1.Completion/Complete", id, TimeProvider.System, out var timeoutError);

        Assert.Null(timeoutError);
        var metadata = call.RequestHeaders;
        Assert.Equal("Bearer sk-123", metadata.GetValue("authorization"));
        Assert.Equal("team-a", metadata.GetValue("x-tenant"));
        Assert.Equal(new byte[] { 1, 2, 3 }, metadata.GetValueBytes("trace-bin"));
        Assert.Equal(id, metadata.GetValue("x-request-id"));
        Assert.Null(metadata.Get("content-type"));
        Assert.Null(metadata.Get("host"));
        Assert.Null(metadata.Get("grpc-timeout"));
        Assert.Null(metadata.Get("x-bad"));
        Assert.Equal(id, http.Response.Headers["x-request-id"].ToString());
        Assert.Equal(DateTime.MaxValue, call.Deadline);
    }

    [Fact]
    public void ResolveRequestId_TooLongCallerId_Replaced()
    {
        var http = new DefaultHttpContext();
        http.Request.Headers["x-request-id"] = new string('a', 129);
        Assert.StartsWith("cmpl-", RestServerCallContext.ResolveRequestId(http), StringComparison.Ordinal);
    }
}

public sealed class HttpRulePatternTests
{
    [Theory]
    [InlineData("/v1/gateway/models", "/v1/gateway/models")]
    [InlineData("/v1/shelves/{shelf}/books/{book_id}", "/v1/shelves/{v0}/books/{v1}")]
    [InlineData("/v1/{name=shelves/*/books/*}", "/v1/shelves/{v0}/books/{v1}")]
    [InlineData("/v1/files/{path=**}", "/v1/files/{**v0}")]
    [InlineData("/v1/jobs/{id}:cancel", "/v1/jobs/{v0}:cancel")]
    [InlineData("/v1/*/things", "/v1/{w0}/things")]
    public void Parse_ValidTemplate_RouteTemplate(string template, string route)
        => Assert.Equal(route, HttpRulePattern.Parse(template).RouteTemplate);

    [Fact]
    public void Parse_NestedVariable_BindsLiteralsAndValues()
    {
        var binding = Assert.Single(HttpRulePattern.Parse("/v1/{name=shelves/*/books/*}").Variables);
        Assert.Equal("name", binding.FieldPath);
        Assert.Equal(["shelves", null, "books", null], binding.Parts.Select(p => p.Literal));
    }

    [Theory]
    [InlineData("v1/models", "must start with '/'")]
    [InlineData("/v1//models", "empty segment")]
    [InlineData("/v1/{name", "unbalanced")]
    [InlineData("/v1/x{name}", "whole segment")]
    [InlineData("/v1/{path=**}/tail", "'**' may only be the last")]
    [InlineData("/v1/{=*}", "without a field name")]
    [InlineData("/v1/a b", "not a plain literal")]
    public void Parse_InvalidTemplate_SaysWhy(string template, string reason)
    {
        var ex = Assert.Throws<FormatException>(() => HttpRulePattern.Parse(template));
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
    }
}

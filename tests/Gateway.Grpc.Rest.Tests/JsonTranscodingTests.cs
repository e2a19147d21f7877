using System.Net;
using System.Text;
using System.Text.Json;
using Gateway.Grpc.Rest.Tests.Infrastructure;
using Gateway.V1;
using Google.Api;
using Google.Protobuf.Reflection;

namespace Gateway.Grpc.Rest.Tests;

/// <summary>
/// google.api.http transcoding of gateway.v1.Models and gateway.admin.v1 in the real gateway
/// (Microsoft.AspNetCore.Grpc.JsonTranscoding), and the OpenAPI document served for it.
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed class GatewayTranscodingTests(GatewayFixture gateway)
{
    [Fact]
    public void ModelsDescriptor_CarriesTheHttpAnnotation()
    {
        var method = ModelsReflection.Descriptor.Services.Single(s => s.FullName == "gateway.v1.Models").FindMethodByName("ListModels");
        var rule = method.GetOptions().GetExtension(AnnotationsExtensions.Http);
        Assert.NotNull(rule);
        Assert.Equal("/v1/gateway/models", rule.Get);
    }

    [Fact]
    public async Task ListModels_AsJson()
    {
        using var response = await gateway.Http.GetAsync("/v1/gateway/models");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var models = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("models");
        var small = models.EnumerateArray().Single(m => m.GetProperty("id").GetString() == "sim-small");
        Assert.Equal(16384, small.GetProperty("contextWindow").GetInt32());
        Assert.Equal("DEPLOYMENT_STATE_HEALTHY", small.GetProperty("deployments")[0].GetProperty("state").GetString());
        Assert.StartsWith("cmpl-", response.Headers.GetValues("x-request-id").Single(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AdminRoute_WithoutMasterKeyConfigured_403WithRpcStatusBody()
    {
        using var response = await gateway.Http.PostAsync("/v1/admin/teams", new StringContent("""{"id":"t1"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(7, body.GetProperty("code").GetInt32());
        Assert.Contains("auth.masterKey", body.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadJsonBody_400NamesTheProblem()
    {
        using var response = await gateway.Http.PostAsync("/v1/admin/teams", new StringContent("{\"id\":", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenApiDocument_UnknownName_NotFoundNamingTheDocumentServed()
    {
        using var response = await gateway.Http.GetAsync("/openapi/v2.json");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("'v2'", text, StringComparison.Ordinal);
        Assert.Contains("/openapi/v1.json", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenApiDocument_ListsEveryHttpAnnotatedMethod()
    {
        using var response = await gateway.Http.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var paths = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("paths");
        var documented = paths.EnumerateObject().Select(p => p.Name).ToHashSet(StringComparer.Ordinal);

        // Every google.api.http route in the contract is in the document.
        var expected = new List<string>();
        foreach (var file in new[] { ModelsReflection.Descriptor, Gateway.Admin.V1.AdminReflection.Descriptor })
        {
            foreach (var service in file.Services)
            {
                foreach (var method in service.Methods)
                {
                    if (method.GetOptions()?.GetExtension(AnnotationsExtensions.Http) is { } rule)
                    {
                        expected.Add(PathOf(rule));
                    }
                }
            }
        }

        Assert.NotEmpty(expected);
        Assert.Contains("/v1/gateway/models", expected);
        foreach (var path in expected)
        {
            Assert.Contains(path, documented);
        }
    }

    private static string PathOf(HttpRule rule) => rule.PatternCase switch
    {
        HttpRule.PatternOneofCase.Get => rule.Get,
        HttpRule.PatternOneofCase.Post => rule.Post,
        HttpRule.PatternOneofCase.Put => rule.Put,
        HttpRule.PatternOneofCase.Delete => rule.Delete,
        HttpRule.PatternOneofCase.Patch => rule.Patch,
        _ => rule.Custom.Path,
    };
}

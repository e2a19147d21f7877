using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi.Writers;
using Swashbuckle.AspNetCore.Swagger;

namespace Gateway.Grpc.Server.Hosting;

/// <summary>
/// Serves the OpenAPI document of the JSON-transcoded routes (<c>/openapi/{name}.json</c>) from
/// Swashbuckle's document provider. An endpoint of our own rather than Swashbuckle's
/// <c>MapSwagger</c>: that one builds its middleware by reflection, which compiles an expression
/// tree at start-up (and loads System.Linq.Expressions) in every gateway, asked for or not.
/// </summary>
internal static class OpenApiDocumentEndpoint
{
    public const string Pattern = "/openapi/{documentName}.json";

    public static async Task WriteAsync(HttpContext context)
    {
        var name = context.Request.RouteValues["documentName"] as string ?? "";
        var provider = context.RequestServices.GetRequiredService<ISwaggerProvider>();
        Microsoft.OpenApi.Models.OpenApiDocument document;
        try
        {
            document = provider.GetSwagger(name);
        }
        catch (UnknownSwaggerDocument)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync($"No OpenAPI document named '{name}': the gateway serves /openapi/v1.json.\n", context.RequestAborted).ConfigureAwait(false);
            return;
        }

        using var text = new StringWriter(CultureInfo.InvariantCulture);
        document.SerializeAsV3(new OpenApiJsonWriter(text));
        context.Response.ContentType = "application/json; charset=utf-8";
        await context.Response.WriteAsync(text.ToString(), context.RequestAborted).ConfigureAwait(false);
    }
}

using System.Net;
using System.Text;
using System.Text.Json;
using Gateway.Grpc.Protocol;
using Gateway.Grpc.Protocol.Server;
using Gateway.Grpc.Rest.Tests.Infrastructure;
using Gateway.Grpc.Rest.Tests.V1;
using Gateway.Grpc.Server.Configuration;
using Gateway.Grpc.Server.Rest;
using Gateway.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Rest.Tests;

/// <summary>google.api.http transcoding of gateway.v1.Models in the real gateway.</summary>
[Collection(GatewayCollection.Name)]
public sealed class GatewayTranscodingTests(GatewayFixture gateway)
{
    [Fact]
    public void ModelsDescriptor_CarriesTheHttpAnnotation()
    {
        var method = ModelsReflection.Descriptor.Services.Single(s => s.FullName == "gateway.v1.Models").FindMethodByName("ListModels");
        var rule = JsonTranscodingBinder.GetHttpRule(method);
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
}

/// <summary>The generic mapping (path variables, body, query, streaming, errors) on a test service.</summary>
public sealed class JsonTranscodingTests : IAsyncLifetime
{
    private WebApplication _app = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http1));
        builder.Services.AddGrpcServer();
        builder.Services.AddSingleton(new GatewayOptions());
        _app = builder.Build();
        _app.UseGrpcServer();
        _app.MapGrpcService(ShelvesService.Definition());
        _app.MapJsonTranscoding();
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        _http = new HttpClient { BaseAddress = new Uri(address) };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        using var response = await _http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    [Fact]
    public async Task PathVariables_BindTypedFields()
    {
        var (status, book) = await SendAsync(HttpMethod.Get, "/v1/shelves/fiction/books/42");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("fiction", book.GetProperty("shelf").GetString());
        Assert.Equal("42", book.GetProperty("id").GetString()); // int64 is a string in proto3 JSON
        Assert.Equal("get", book.GetProperty("source").GetString());
    }

    [Fact]
    public async Task AdditionalBindings_AreRoutesToo()
    {
        var (status, book) = await SendAsync(HttpMethod.Get, "/v1/books/7");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("7", book.GetProperty("id").GetString());

        // {name=shelves/*/books/*} binds the whole matched path, literals included.
        (status, book) = await SendAsync(HttpMethod.Get, "/v2/shelves/s1/books/b2");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("shelves/s1/books/b2", book.GetProperty("title").GetString());
    }

    [Fact]
    public async Task BodyField_FillsThatFieldAndPathTheRest()
    {
        var (status, book) = await SendAsync(HttpMethod.Post, "/v1/shelves/science/books", """{"title":"Cosmos","genre":"GENRE_SCIENCE","tags":["space"]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("science", book.GetProperty("shelf").GetString());
        Assert.Equal("Cosmos", book.GetProperty("title").GetString());
        Assert.Equal("GENRE_SCIENCE", book.GetProperty("genre").GetString());
        Assert.Equal("create", book.GetProperty("source").GetString());
    }

    [Fact]
    public async Task BodyStar_WholeRequestWithPathOverriding()
    {
        var (status, book) = await SendAsync(HttpMethod.Patch, "/v1/shelves/s9/books/5", """{"shelf":"ignored","title":"New title"}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("s9", book.GetProperty("shelf").GetString());
        Assert.Equal("5", book.GetProperty("id").GetString());
        Assert.Equal("New title", book.GetProperty("title").GetString());
    }

    [Fact]
    public async Task ServerStreaming_NdjsonFromQueryParameters()
    {
        using var response = await _http.GetAsync("/v1/shelves/s1/books?page_size=3&tags=a&tags=b&genre=GENRE_FICTION");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType?.MediaType);
        var lines = (await response.Content.ReadAsStringAsync()).TrimEnd('\n').Split('\n');
        Assert.Equal(3, lines.Length);
        var books = lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["1", "2", "3"], books.Select(b => b.GetProperty("id").GetString()));
        Assert.All(books, b => Assert.Equal(["a", "b"], b.GetProperty("tags").EnumerateArray().Select(t => t.GetString())));
        Assert.All(books, b => Assert.Equal("GENRE_FICTION", b.GetProperty("genre").GetString()));
    }

    [Fact]
    public async Task StreamFailsAfterStart_LastLineIsTheError()
    {
        using var response = await _http.GetAsync("/v1/shelves/midfail/books?page_size=5");
        var lines = (await response.Content.ReadAsStringAsync()).TrimEnd('\n').Split('\n');
        Assert.Equal(2, lines.Length);
        var error = JsonDocument.Parse(lines[1]).RootElement.GetProperty("error");
        Assert.Equal((int)StatusCode.Unavailable, error.GetProperty("code").GetInt32());
    }

    [Fact]
    public async Task HandlerStatus_MapsToHttpWithRpcStatusBody()
    {
        var (status, body) = await SendAsync(HttpMethod.Get, "/v1/shelves/fail/books/1");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal(5, body.GetProperty("code").GetInt32());
        Assert.Equal("shelf fail does not exist", body.GetProperty("message").GetString());
        Assert.Equal(0, body.GetProperty("details").GetArrayLength());
    }

    [Theory]
    [InlineData("GET", "/v1/shelves/s1/books/abc", null, "book_id")]
    [InlineData("GET", "/v1/shelves/s1/books?page_size=many", null, "page_size")]
    [InlineData("GET", "/v1/shelves/s1/books?colour=red", null, "colour")]
    [InlineData("POST", "/v1/shelves/s1/books", "{\"title\":", "not valid JSON")]
    [InlineData("POST", "/v1/shelves/s1/books", "{\"pages\":12}", "pages")]
    public async Task BadInput_400SaysWhatIsWrong(string method, string path, string? json, string mention)
    {
        var (status, body) = await SendAsync(new HttpMethod(method), path, json);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(3, body.GetProperty("code").GetInt32());
        Assert.Contains(mention, body.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    private static class ShelvesService
    {
        private const string Name = "resttest.v1.Shelves";

        private static Method<TRequest, TResponse> Method<TRequest, TResponse>(MethodType type, string name, Google.Protobuf.MessageParser<TRequest> request, Google.Protobuf.MessageParser<TResponse> response)
            where TRequest : Google.Protobuf.IMessage<TRequest>
            where TResponse : Google.Protobuf.IMessage<TResponse>
            => new(type, Name, name, Marshallers.Protobuf(request), Marshallers.Protobuf(response));

        public static ServerServiceDefinition Definition()
            => ServerServiceDefinition.CreateBuilder(Name, ShelvesReflection.Descriptor)
                .AddMethod(Method(MethodType.Unary, "GetBook", GetBookRequest.Parser, Book.Parser), GetBook)
                .AddMethod(Method(MethodType.Unary, "CreateBook", CreateBookRequest.Parser, Book.Parser), (CreateBookRequest r, ServerCallContext _) =>
                {
                    var book = r.Book ?? new Book();
                    book.Shelf = r.Shelf;
                    book.Source = "create";
                    return Task.FromResult(book);
                })
                .AddMethod(Method(MethodType.Unary, "UpdateBook", Book.Parser, Book.Parser), (Book r, ServerCallContext _) =>
                {
                    r.Source = "update";
                    return Task.FromResult(r);
                })
                .AddMethod(Method(MethodType.ServerStreaming, "ListBooks", ListBooksRequest.Parser, Book.Parser), ListBooks)
                .AddMethod(Method(MethodType.Unary, "Hidden", GetBookRequest.Parser, Book.Parser), GetBook)
                .Build();

        private static Task<Book> GetBook(GetBookRequest request, ServerCallContext context)
        {
            if (request.Shelf == "fail")
            {
                throw new RpcException(new Status(StatusCode.NotFound, "shelf fail does not exist"));
            }

            return Task.FromResult(new Book { Shelf = request.Shelf, Id = request.BookId, Title = request.Name, Source = "get" });
        }

        private static async Task ListBooks(ListBooksRequest request, IServerStreamWriter<Book> stream, ServerCallContext context)
        {
            for (var i = 1; i <= request.PageSize; i++)
            {
                if (request.Shelf == "midfail" && i == 2)
                {
                    throw new RpcException(new Status(StatusCode.Unavailable, "shelf went away"));
                }

                var book = new Book { Shelf = request.Shelf, Id = i, Genre = request.Genre };
                book.Tags.Add(request.Tags);
                await stream.WriteAsync(book, context.CancellationToken);
            }
        }
    }
}

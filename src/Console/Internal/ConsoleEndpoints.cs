using System.Text.Json;
using Gateway.Admin.V1;
using Gateway.Grpc.Governance;
using Gateway.Grpc.Governance.Keys;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Grpc.Console.Internal;

/// <summary>
/// The console's routes. Public: <c>/ui/login</c>, <c>/ui/assets/*</c> and sign-in
/// (<c>POST /ui/api/session</c>). Every other page redirects to sign-in without a session, every
/// other data endpoint answers 401; state-changing requests also need the session's CSRF token in
/// <c>X-Console-Csrf</c> (403 without it).
/// </summary>
internal static partial class ConsoleEndpoints
{
    public static readonly string[] Pages = ["spend", "keys", "traffic", "playground"];

    private static readonly JsonFormatter ProtoJson = new(JsonFormatter.Settings.Default);
    private static readonly JsonParser ProtoParser = new(JsonParser.Settings.Default);
    private const string SessionItem = "gateway.console.session";

    public static void Map(IEndpointRouteBuilder app)
    {
        var ui = app.MapGroup("/ui");
        ui.MapGet("/login", static (HttpContext context, ConsoleAssets assets) => assets.Serve(context, "login.html"));
        ui.MapGet("/assets/{**path}", static (HttpContext context, ConsoleAssets assets, string path) => assets.Serve(context, path));
        ui.MapPost("/api/session", SignInAsync);

        // Pages: without a session, a redirect to the sign-in page.
        var pages = ui.MapGroup("").AddEndpointFilter(static async (invocation, next) =>
        {
            var context = invocation.HttpContext;
            if (await context.RequestServices.GetRequiredService<ConsoleSessions>().ResolveAsync(context).ConfigureAwait(false) is null)
            {
                ConsoleHeaders.Apply(context.Response);
                return Results.Redirect("/ui/login?next=" + Uri.EscapeDataString(context.Request.Path.Value ?? "/ui"));
            }

            return await next(invocation).ConfigureAwait(false);
        });
        pages.MapGet("", static () => Results.Redirect("/ui/spend"));
        pages.MapGet("/{page}", static (HttpContext context, ConsoleAssets assets, string page)
            => Array.IndexOf(Pages, page) >= 0 ? NoStore(context, assets.Serve(context, "index.html")) : Results.NotFound());

        // Data: without a session 401; writes without the CSRF token 403.
        var api = ui.MapGroup("/api").AddEndpointFilter(static async (invocation, next) =>
        {
            var context = invocation.HttpContext;
            ConsoleHeaders.Apply(context.Response);
            context.Response.Headers.CacheControl = "no-store";
            var session = await context.RequestServices.GetRequiredService<ConsoleSessions>().ResolveAsync(context).ConfigureAwait(false);
            if (session is null)
            {
                return Error(StatusCodes.Status401Unauthorized, "Sign in at /ui/login.");
            }

            if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method)
                && !ConsoleSessions.CsrfMatches(session, context.Request.Headers[ConsoleSessions.CsrfHeader]))
            {
                return Error(StatusCodes.Status403Forbidden, "Missing or wrong " + ConsoleSessions.CsrfHeader + " header.");
            }

            context.Items[SessionItem] = session;
            return await next(invocation).ConfigureAwait(false);
        });
        api.MapGet("/session", static (HttpContext context, GovernanceService governance) =>
        {
            var session = Session(context);
            return Results.Json(new { who = session.Who, csrf = session.CsrfToken, adminApi = ConsoleSessions.MasterKeyHash(governance) is not null });
        });
        api.MapDelete("/session", static (HttpContext context, ConsoleSessions sessions) =>
        {
            sessions.Close(context);
            context.Response.Cookies.Delete(ConsoleSessions.CookieName, CookieOptions(context));
            return Results.NoContent();
        });
        api.MapGet("/spend", static async (HttpContext context, SpendReport report, int? days, string? bucket) =>
            Results.Json(await report.BuildAsync(Days(days), bucket is "week" or "month" ? bucket : "day", context.RequestAborted).ConfigureAwait(false)));
        api.MapGet("/spend.csv", static async (HttpContext context, SpendReport report, int? days) =>
        {
            var (from, _, rows) = await report.RowsAsync(Days(days), context.RequestAborted).ConfigureAwait(false);
            context.Response.Headers.ContentDisposition = $"attachment; filename=\"gateway-spend-{from.UtcDateTime:yyyy-MM-dd}-{Days(days)}d.csv\"";
            return Results.Text(SpendReport.Csv(rows), "text/csv; charset=utf-8");
        });
        api.MapGet("/models", static (IConsoleBackend backend) => Proto(backend.ListModels()));
        api.MapGet("/traffic", static (IConsoleBackend backend, TrafficLog traffic, long? after) =>
        {
            var (entries, last) = traffic.Since(after ?? 0, 200);
            var (minutes, series) = traffic.ErrorsOverTime();
            var deployments = new List<object>();
            foreach (var model in backend.ListModels().Models)
            {
                foreach (var deployment in model.Deployments)
                {
                    deployments.Add(new { model = model.Id, name = deployment.Name, provider = deployment.Provider, state = deployment.State.ToString().ToLowerInvariant() });
                }
            }

            return Results.Json(new { lastSeq = last, entries, deployments, errors = new { minutes, series } });
        });

        api.MapGet("/keys", static (HttpContext context, IConsoleBackend backend)
            => Admin(context, (actor, ct) => backend.ListKeysAsync(new ListKeysRequest(), actor, ct)));
        api.MapGet("/teams", static (HttpContext context, IConsoleBackend backend)
            => Admin(context, (actor, ct) => backend.ListTeamsAsync(actor, ct)));
        api.MapPost("/keys", static async (HttpContext context, IConsoleBackend backend) =>
        {
            var key = await ReadAsync<Key>(context).ConfigureAwait(false);
            return key is null ? BadBody() : await Admin(context, (actor, ct) => backend.CreateKeyAsync(new CreateKeyRequest { Key = key }, actor, ct)).ConfigureAwait(false);
        });
        api.MapPatch("/keys/{id}", static async (HttpContext context, IConsoleBackend backend, string id) =>
        {
            var key = await ReadAsync<Key>(context).ConfigureAwait(false);
            if (key is null)
            {
                return BadBody();
            }

            key.Id = id;
            return await Admin(context, (actor, ct) => backend.UpdateKeyAsync(new UpdateKeyRequest { Key = key }, actor, ct)).ConfigureAwait(false);
        });
        api.MapPost("/keys/{id}/rotate", static (HttpContext context, IConsoleBackend backend, string id)
            => Admin(context, (actor, ct) => backend.RotateKeyAsync(new RotateKeyRequest { Id = id }, actor, ct)));
        api.MapPost("/keys/{id}/revoke", static (HttpContext context, IConsoleBackend backend, string id)
            => Admin(context, (actor, ct) => backend.RevokeKeyAsync(new RevokeKeyRequest { Id = id }, actor, ct)));
        api.MapPost("/teams", static async (HttpContext context, IConsoleBackend backend) =>
        {
            var team = await ReadAsync<Team>(context).ConfigureAwait(false);
            return team is null ? BadBody() : await Admin(context, (actor, ct) => backend.CreateTeamAsync(new CreateTeamRequest { Team = team }, actor, ct)).ConfigureAwait(false);
        });
        api.MapPatch("/teams/{id}", static async (HttpContext context, IConsoleBackend backend, string id) =>
        {
            var team = await ReadAsync<Team>(context).ConfigureAwait(false);
            if (team is null)
            {
                return BadBody();
            }

            team.Id = id;
            return await Admin(context, (actor, ct) => backend.UpdateTeamAsync(new UpdateTeamRequest { Team = team }, actor, ct)).ConfigureAwait(false);
        });
    }

    /// <summary>
    /// Sign-in: the master key or an admin-scoped key in a JSON body (<c>{"key": "..."}</c>), or
    /// nothing in open dev mode. The request must carry <c>X-Requested-With: gateway-console</c>
    /// (a cross-site form cannot) and, when the browser sends one, a same-origin <c>Origin</c>.
    /// </summary>
    private static async Task<IResult> SignInAsync(HttpContext context, ConsoleSessions sessions, SignInThrottle throttle, GovernanceService governance, ILoggerFactory loggers)
    {
        ConsoleHeaders.Apply(context.Response);
        context.Response.Headers.CacheControl = "no-store";
        var request = context.Request;
        if (request.Headers[ConsoleSessions.RequestedWithHeader] != ConsoleSessions.RequestedWithValue || !SameOrigin(request))
        {
            return Error(StatusCodes.Status403Forbidden, "Sign in from the console's own page.");
        }

        var remote = context.Connection.RemoteIpAddress;
        var logger = loggers.CreateLogger("Gateway.Console");
        if (throttle.IsLocked(remote, out var retryAfter))
        {
            Log.SignInThrottled(logger, remote?.ToString() ?? "");
            var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
            context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Error(StatusCodes.Status429TooManyRequests, $"Too many refused sign-ins from this address; try again in {seconds} s.");
        }

        string? presented = null;
        var text = await ReadBodyAsync(context, 8192).ConfigureAwait(false);
        if (text is null)
        {
            return BadBody();
        }

        try
        {
            using var body = JsonDocument.Parse(text);
            if (body.RootElement.ValueKind == JsonValueKind.Object && body.RootElement.TryGetProperty("key", out var key) && key.ValueKind == JsonValueKind.String)
            {
                presented = key.GetString();
            }
        }
        catch (JsonException)
        {
            return BadBody();
        }

        var master = ConsoleSessions.MasterKeyHash(governance);
        string who;
        string? keyId = null;
        if (master is null)
        {
            if (governance.Settings.RequireKeys)
            {
                return Error(StatusCodes.Status403Forbidden, "The console needs auth.masterKey when keys are required.");
            }

            who = "open-dev-mode";
        }
        else
        {
            Principal principal;
            try
            {
                principal = await governance.AuthenticateAsync(presented, context.RequestAborted).ConfigureAwait(false);
            }
            catch (RpcException)
            {
                return Refused("That key is not valid.");
            }

            if (!principal.IsAdmin)
            {
                return Refused("Sign in with the master key or an admin-scoped key (metadata scope: admin).");
            }

            keyId = principal.Key?.Id;
            who = keyId ?? "master";
        }

        var (cookie, session) = sessions.Open(who, keyId, keyId is null ? master : null);
        context.Response.Cookies.Append(ConsoleSessions.CookieName, cookie, CookieOptions(context));
        Log.SignedIn(logger, who);
        return Results.Json(new { who, csrf = session.CsrfToken });

        // A refused sign-in spends one of the address's allowance and is logged (never the key).
        IResult Refused(string message)
        {
            throttle.RecordFailure(remote);
            Log.SignInRefused(logger, remote?.ToString() ?? "");
            return Error(StatusCodes.Status401Unauthorized, message);
        }
    }

    internal static CookieOptions CookieOptions(HttpContext context) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Secure = context.Request.IsHttps,
        Path = ConsoleSessions.CookiePath,
        IsEssential = true,
    };

    private static bool SameOrigin(HttpRequest request)
    {
        var origin = request.Headers.Origin.ToString();
        return origin.Length == 0 || string.Equals(origin, request.Scheme + "://" + request.Host.Value, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The request body as text, or null when it is longer than <paramref name="maxChars"/> (console bodies are small).</summary>
    private static async Task<string?> ReadBodyAsync(HttpContext context, int maxChars)
    {
        if (context.Request.ContentLength > maxChars)
        {
            return null;
        }

        using var reader = new StreamReader(context.Request.Body);
        var buffer = new char[maxChars + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await reader.ReadAsync(buffer.AsMemory(length), context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            length += read;
        }

        return length > maxChars ? null : new string(buffer, 0, length);
    }

    private static async Task<T?> ReadAsync<T>(HttpContext context)
        where T : class, IMessage<T>, new()
    {
        var text = await ReadBodyAsync(context, 65_536).ConfigureAwait(false);
        if (text is null)
        {
            return null;
        }

        try
        {
            return ProtoParser.Parse<T>(text);
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }
        catch (InvalidJsonException)
        {
            return null;
        }
    }

    /// <summary>Runs an admin operation as the session's user; the admin API's errors become HTTP statuses with its message.</summary>
    private static async Task<IResult> Admin<T>(HttpContext context, Func<AdminActor, CancellationToken, Task<T>> operation)
        where T : IMessage
    {
        var governance = context.RequestServices.GetRequiredService<GovernanceService>();
        if (ConsoleSessions.MasterKeyHash(governance) is null)
        {
            return Error(StatusCodes.Status403Forbidden, "Key management is off, as the admin API is: set auth.masterKey (a secret reference such as env:GATEWAY_MASTER_KEY) to enable it.");
        }

        var session = Session(context);
        var peer = context.Connection.RemoteIpAddress is { } ip ? ip + ":" + context.Connection.RemotePort : "";
        try
        {
            return Proto(await operation(new AdminActor(session.Who, peer, "console"), context.RequestAborted).ConfigureAwait(false));
        }
        catch (RpcException ex)
        {
            return Error(ex.StatusCode switch
            {
                StatusCode.InvalidArgument or StatusCode.OutOfRange => StatusCodes.Status400BadRequest,
                StatusCode.NotFound => StatusCodes.Status404NotFound,
                StatusCode.AlreadyExists or StatusCode.FailedPrecondition => StatusCodes.Status409Conflict,
                StatusCode.PermissionDenied => StatusCodes.Status403Forbidden,
                StatusCode.Unauthenticated => StatusCodes.Status401Unauthorized,
                _ => StatusCodes.Status500InternalServerError,
            }, ex.Status.Detail);
        }
    }

    private static ConsoleSession Session(HttpContext context) => (ConsoleSession)context.Items[SessionItem]!;

    private static IResult Proto(IMessage message) => Results.Text(ProtoJson.Format(message), "application/json; charset=utf-8");

    private static IResult Error(int status, string message) => Results.Json(new { error = message }, statusCode: status);

    private static IResult BadBody() => Error(StatusCodes.Status400BadRequest, "The body is not valid JSON for this request.");

    private static IResult NoStore(HttpContext context, IResult result)
    {
        context.Response.Headers.CacheControl = "no-store";
        return result;
    }

    private static int Days(int? days) => Math.Clamp(days ?? 30, 1, 366);

    private static partial class Log
    {
        [LoggerMessage(1400, LogLevel.Information, "Console sign-in by {Who}.", EventName = "ConsoleSignIn")]
        public static partial void SignedIn(ILogger logger, string who);

        [LoggerMessage(1401, LogLevel.Information, "Console sign-in refused (from {Remote}).", EventName = "ConsoleSignInRefused")]
        public static partial void SignInRefused(ILogger logger, string remote);

        [LoggerMessage(1402, LogLevel.Warning, "Console sign-in throttled: too many refused sign-ins from {Remote}.", EventName = "ConsoleSignInThrottled")]
        public static partial void SignInThrottled(ILogger logger, string remote);
    }
}

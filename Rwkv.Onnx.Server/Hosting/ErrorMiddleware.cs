using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Rwkv.Onnx.Server.Errors;
using Rwkv.Onnx.Server.Metrics;
using Rwkv.Onnx.Server.OpenAI;

namespace Rwkv.Onnx.Server.Hosting;

/// <summary>
/// The outermost layer: turns every refusal and failure into OpenAI's error JSON with its status (never a stack trace to
/// the client; an unexpected exception goes to the log and the client gets a plain 500), and counts each request by
/// endpoint and final status.
/// </summary>
internal sealed class ErrorMiddleware(RequestDelegate next, ServerMetrics metrics, ILogger<ErrorMiddleware> logger)
{
    /// <summary>The status recorded for a request whose client disconnected before its response ended (nginx's convention).</summary>
    public const int ClientClosedRequest = 499;

    private static readonly HashSet<string> s_endpoints = ["/v1/models", "/v1/completions", "/v1/chat/completions", "/health", "/metrics"];

    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (Exception e) when (context.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException)
        {
            // The client left; there is no one to answer.
        }
        catch (ApiException e)
        {
            await WriteAsync(context, e).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await WriteAsync(context, ApiErrors.BodyTooLarge(context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize)).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e)
        {
            await WriteAsync(context, new ApiException(e.StatusCode, $"Bad HTTP request: {e.Message}", "invalid_request_error", null, null)).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            logger.LogError(e, "Request {Method} {Path} failed", context.Request.Method, context.Request.Path);
            await WriteAsync(context, ApiErrors.Internal()).ConfigureAwait(false);
        }
        finally
        {
            string path = context.Request.Path.Value ?? "";
            int status = context.RequestAborted.IsCancellationRequested ? ClientClosedRequest : context.Response.StatusCode;
            metrics.RecordRequest(s_endpoints.Contains(path) ? path : "other", status);
        }
    }

    private static async Task WriteAsync(HttpContext context, ApiException error)
    {
        if (context.Response.HasStarted)
        {
            // A stream already sent its status; the error can only be an event, and the connection ends after it.
            await context.Response.WriteAsync($"data: {System.Text.Json.JsonSerializer.Serialize(error.ToResponse(), OpenAIJson.Context.ErrorResponse)}\n\n").ConfigureAwait(false);
            return;
        }
        context.Response.Clear();
        context.Response.StatusCode = error.StatusCode;
        if (error.RetryAfter is TimeSpan retryAfter)
        {
            context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        await context.Response.WriteAsJsonAsync(error.ToResponse(), OpenAIJson.Context.ErrorResponse).ConfigureAwait(false);
    }
}

using Microsoft.AspNetCore.Http;
using Prometheus;
using Rwkv.Onnx.Server.Metrics;
using Rwkv.Onnx.Server.OpenAI;
using Rwkv.Onnx.Server.Requests;

namespace Rwkv.Onnx.Server.Endpoints;

/// <summary><c>GET /v1/models</c>, <c>GET /health</c> and <c>GET /metrics</c>: what the server serves and how it is doing.</summary>
internal sealed class InfoEndpoints(ServedModel served, ServerMetrics metrics, Func<bool> draining)
{
    public Task ModelsAsync(HttpContext context) => context.Response.WriteAsJsonAsync(
        new ModelList([new ModelCard(served.Id, served.Created, "rwkv-onnx")]), OpenAIJson.Context.ModelList, cancellationToken: context.RequestAborted);

    /// <summary>200 <c>ok</c> while serving; 503 <c>draining</c> once shutdown began, so a load balancer stops sending requests.</summary>
    public Task HealthAsync(HttpContext context)
    {
        bool stopping = draining();
        context.Response.StatusCode = stopping ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(stopping ? "{\"status\":\"draining\"}" : "{\"status\":\"ok\"}", context.RequestAborted);
    }

    /// <summary>Prometheus text exposition format 0.0.4.</summary>
    public Task MetricsAsync(HttpContext context)
    {
        context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        return metrics.Registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted);
    }
}

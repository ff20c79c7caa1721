using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Rwkv.Onnx.Server.Errors;

namespace Rwkv.Onnx.Server.Hosting;

/// <summary>
/// With an API key configured, every path but <c>/health</c> (for load balancers and orchestrators) needs
/// <c>Authorization: Bearer &lt;key&gt;</c>, as OpenAI clients send it. The comparison takes the same time whatever the
/// guess, so the key cannot be found byte by byte from response times.
/// </summary>
internal sealed class ApiKeyMiddleware(RequestDelegate next, RwkvServerOptions options)
{
    private readonly byte[]? _key = options.ApiKey is null ? null : SHA256.HashData(Encoding.UTF8.GetBytes(options.ApiKey));

    public Task InvokeAsync(HttpContext context)
    {
        if (_key is null || context.Request.Path == "/health")
        {
            return next(context);
        }
        string? header = context.Request.Headers.Authorization;
        const string Scheme = "Bearer ";
        if (header is null || !header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            throw ApiErrors.InvalidApiKey(missing: true);
        }
        // Hashing both sides makes the lengths equal, which FixedTimeEquals needs to be constant-time.
        byte[] given = SHA256.HashData(Encoding.UTF8.GetBytes(header[Scheme.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(given, _key) ? next(context) : throw ApiErrors.InvalidApiKey(missing: false);
    }
}

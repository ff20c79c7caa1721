namespace Rwkv.Onnx.Server.Endpoints;

/// <summary>Response ids and timestamps as OpenAI forms them.</summary>
internal static class ResponseIds
{
    public static string New(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    public static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();
}

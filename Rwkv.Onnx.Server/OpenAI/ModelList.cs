namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>The response of <c>GET /v1/models</c>: the one model this server serves.</summary>
internal sealed record ModelList(IReadOnlyList<ModelCard> Data)
{
    public string Object => "list";
}

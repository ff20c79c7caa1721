namespace Rwkv.Onnx.Server.OpenAI;

/// <summary>A <c>model</c> object: its id (what requests put in <c>model</c>), when the server loaded it, and the owner.</summary>
internal sealed record ModelCard(string Id, long Created, string OwnedBy)
{
    public string Object => "model";
}

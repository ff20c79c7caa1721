using Rwkv.Onnx.Sampling;
using Rwkv.Onnx.Serving;

namespace Rwkv.Onnx.Server.Requests;

/// <summary>What the endpoints serve: the engine, the model's id and sampling presets, and the server's limits.</summary>
internal sealed class ServedModel
{
    public ServedModel(RwkvEngine engine, RwkvServerOptions limits)
    {
        Engine = engine;
        Limits = limits;
        RwkvGenerationInfo? generation = engine.Model.Manifest.Generation;
        CompletionDefaults = generation is null ? SamplingSettings.Completion : generation.Sampling.Completion.ToSettings();
        ChatDefaults = generation is null ? SamplingSettings.Chat : generation.Sampling.Chat.ToSettings();
        StopTokenIds = generation?.StopTokenIds ?? [];
    }

    public RwkvEngine Engine { get; }

    public RwkvServerOptions Limits { get; }

    public string Id => Limits.ModelId;

    /// <summary>When the server was created, in Unix seconds (OpenAI's <c>created</c> of the model object).</summary>
    public long Created { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>The model's completion preset (manifest <c>generation.sampling.completion</c>), for fields a completion leaves out.</summary>
    public SamplingSettings CompletionDefaults { get; }

    /// <summary>The model's chat preset, for fields a chat request leaves out.</summary>
    public SamplingSettings ChatDefaults { get; }

    /// <summary>The manifest's stop tokens, added to every request.</summary>
    public IReadOnlyList<int> StopTokenIds { get; }
}

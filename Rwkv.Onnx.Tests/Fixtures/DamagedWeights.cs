using System.Globalization;
using Rwkv.Onnx.Export.Proto;

namespace Rwkv.Onnx.Tests.Fixtures;

/// <summary>Corrupts the weights of an exported model copy in place, the way a bad disk or download would.</summary>
internal static class DamagedWeights
{
    /// <summary>
    /// Overwrites the <c>emb.weight</c> row of <paramref name="token"/> in an fp32 export's weights file with NaN. The file
    /// keeps its size, so the model loads (the SHA-256 is only checked on request); its logits are finite until
    /// <paramref name="token"/> is fed, and NaN from then on.
    /// </summary>
    public static void NaNEmbeddingRow(string modelDirectory, int token)
    {
        ModelProto step = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(modelDirectory, RwkvContract.StepGraphFile)));
        TensorProto emb = step.Graph.Initializer.Single(t => t.Name == "emb.weight");
        long offset = long.Parse(emb.ExternalData.Single(e => e.Key == "offset").Value, CultureInfo.InvariantCulture);
        int width = (int)emb.Dims[1];
        using FileStream weights = File.OpenWrite(Path.Combine(modelDirectory, RwkvContract.WeightsFile));
        weights.Position = offset + ((long)token * width * sizeof(float));
        for (int i = 0; i < width; i++)
        {
            weights.Write(BitConverter.GetBytes(float.NaN));
        }
    }
}

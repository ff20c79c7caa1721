namespace Rwkv.Onnx.Cli.Commands;

/// <summary>
/// The tensors of a one-sequence <see cref="RwkvState"/>, keyed by each state tensor's graph input, read back from
/// <see cref="RwkvState.Save"/>'s documented format: the runtime's public API has no per-tensor read, and this tool uses
/// only public API.
/// </summary>
internal static class SavedStateTensors
{
    /// <summary>Every state tensor's values, row-major, in the manifest's shapes.</summary>
    /// <exception cref="InvalidDataException">The state holds more than one sequence (the message names <paramref name="option"/>).</exception>
    public static Dictionary<string, float[]> Read(RwkvState state, RwkvManifest manifest, string option)
    {
        if (state.BatchSize != 1)
        {
            throw new InvalidDataException($"{option}: the saved state holds {state.BatchSize} sequences; a start state is one sequence.");
        }
        using var stream = new MemoryStream();
        state.Save(stream);
        stream.Position = 0;
        using var reader = new BinaryReader(stream);
        reader.ReadUInt32();                       // magic
        int format = reader.ReadInt32();
        if (format != RwkvState.SaveFormatVersion)
        {
            throw new InvalidDataException($"{option}: the runtime saved the state in format {format}; this tool reads format {RwkvState.SaveFormatVersion}.");
        }
        reader.ReadInt32();                        // layers
        reader.ReadInt32();                        // embedding
        reader.ReadString();                       // architecture version
        reader.ReadInt32();                        // batch size, checked above
        int[] lengths = new int[reader.ReadInt32()];
        for (int i = 0; i < lengths.Length; i++)
        {
            lengths[i] = reader.ReadInt32();
            reader.ReadString();                   // layout
        }
        var tensors = new Dictionary<string, float[]>(StringComparer.Ordinal);
        for (int i = 0; i < lengths.Length; i++)
        {
            float[] values = new float[lengths[i]];
            for (int j = 0; j < values.Length; j++)
            {
                values[j] = reader.ReadSingle(); // little-endian, as Save writes
            }
            tensors[manifest.State[i].Input] = values;
        }
        return tensors;
    }
}

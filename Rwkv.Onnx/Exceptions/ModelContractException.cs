namespace Rwkv.Onnx.Exceptions;

/// <summary>A model directory, manifest or graph does not follow <see cref="RwkvContract"/>.</summary>
public sealed class ModelContractException : RwkvException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="modelPath">The file or directory at fault.</param>
    /// <param name="key">The manifest key, file or graph name at fault.</param>
    /// <param name="message">A full-sentence message.</param>
    /// <param name="innerException">The cause, if any.</param>
    public ModelContractException(string modelPath, string key, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        ModelPath = modelPath;
        Key = key;
    }

    /// <summary>The file or directory at fault.</summary>
    public string ModelPath { get; }

    /// <summary>The manifest key, file or graph name at fault.</summary>
    public string Key { get; }
}

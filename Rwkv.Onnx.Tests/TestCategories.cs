namespace Rwkv.Onnx.Tests;

/// <summary>NUnit category names, used as <c>[Category(TestCategories.RealModel)]</c> and in <c>dotnet test --filter</c>.</summary>
internal static class TestCategories
{
    /// <summary>Tests that need a real checkpoint from <c>models/</c>; they skip (Assume) when it is absent.</summary>
    public const string RealModel = "RealModel";

    /// <summary>Tests that need a GPU execution provider (CUDA or DirectML).</summary>
    public const string Gpu = "Gpu";

    /// <summary>Tests that pack the <c>rwkv-onnx</c> tool with <c>dotnet pack</c> (about half a minute); exclude with <c>TestCategory!=Packaging</c>.</summary>
    public const string Packaging = "Packaging";
}

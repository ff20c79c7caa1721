namespace Rwkv.Onnx.Tests;

/// <summary>NUnit category names, used as <c>[Category(TestCategories.RealModel)]</c> and in <c>dotnet test --filter</c>.</summary>
internal static class TestCategories
{
    /// <summary>Tests that need a real checkpoint from <c>models/</c>; they skip (Assume) when it is absent.</summary>
    public const string RealModel = "RealModel";

    /// <summary>Tests that need a GPU execution provider (CUDA or DirectML).</summary>
    public const string Gpu = "Gpu";
}

using Rwkv.Onnx.Export;

namespace Rwkv.Onnx.Tests.Export.Quantization;

[TestFixture]
public sealed class QuantLayoutTests
{
    [Test]
    public void Spec_ParsesBackToTheSameLayout()
    {
        var layout = new QuantLayout
        {
            Bits = WeightDType.Int4,
            BlockSize = 64,
            Rounding = BlockRounding.ZeroPointSearch,
            Head = WeightDType.Float16,
            Int8Roles = QuantRoles.AttentionValue | QuantRoles.FirstLastLayers,
            Compute = QuantizedCompute.Float32,
        };
        Assert.Multiple(() =>
        {
            Assert.That(layout.Spec, Is.EqualTo("int4:block=64,rounding=zero-point-search,head=fp16,int8-roles=first-last+att-value,compute=fp32"));
            Assert.That(QuantLayout.Parse(layout.Spec), Is.EqualTo(layout));
        });
    }

    [Test]
    public void EveryPreset_IsNamedByItsKeyAndParsesFromItsSpec()
    {
        foreach ((string name, QuantLayout layout) in QuantLayout.Presets)
        {
            Assert.Multiple(() =>
            {
                Assert.That(layout.ToString(), Is.EqualTo(name));
                Assert.That(QuantLayout.Parse(name), Is.SameAs(layout));
                Assert.That(QuantLayout.Parse(layout.Spec), Is.EqualTo(layout));
            });
        }
    }

    [Test]
    public void KeysLeftOut_TakeTheBitsDefault() =>
        Assert.That(QuantLayout.Parse("int4:block=32"), Is.EqualTo(QuantLayout.Int4 with { BlockSize = 32 }));

    [TestCase("int5", "starts with 'int5'")]
    [TestCase("int4:block=48", "'block=48' is not valid; expected a block size that is a power of two from 16 to 256")]
    [TestCase("int4:rounding=round", "'rounding=round' is not valid; expected absmax, search, zero-point or zero-point-search")]
    [TestCase("int4:int8-roles=head", "'int8-roles=head' is not valid")]
    [TestCase("int8:colour=blue", "'colour=blue' is not valid; expected block=, rounding=, head=, int8-roles= or compute=")]
    public void BadSpec_IsAFormatErrorNamingThePart(string spec, string message) =>
        Assert.That(() => QuantLayout.Parse(spec), Throws.TypeOf<FormatException>().With.Message.Contains(message));

    [Test]
    public void Options_ResolveToTheDtypesDefaultWithWhatIsSet()
    {
        Assert.Multiple(() =>
        {
            Assert.That(new ExportOptions().ResolveQuantLayout(), Is.Null);
            Assert.That(new ExportOptions { WeightDType = WeightDType.Int8 }.ResolveQuantLayout(), Is.EqualTo(QuantLayout.Int8));
            Assert.That(new ExportOptions { WeightDType = WeightDType.Int4 }.ResolveQuantLayout(), Is.EqualTo(QuantLayout.Int4));
            Assert.That(new ExportOptions { WeightDType = WeightDType.Int4, BlockSize = 16, HeadWeightDType = WeightDType.Float32 }.ResolveQuantLayout(),
                Is.EqualTo(QuantLayout.Int4 with { BlockSize = 16, Head = WeightDType.Float32 }));
            // An fp32 export with an int8 head quantizes the head alone, in int8's default layout.
            Assert.That(new ExportOptions { HeadWeightDType = WeightDType.Int8 }.ResolveQuantLayout()?.Bits, Is.EqualTo(WeightDType.Int8));
            // Roles apply under int4 only.
            Assert.That(new ExportOptions { WeightDType = WeightDType.Int8, Int8Roles = QuantRoles.FfnValue }.ResolveQuantLayout()?.Int8Roles, Is.EqualTo(QuantRoles.None));
        });
    }
}

using Rwkv.Onnx.Exceptions;

namespace Rwkv.Onnx.Tests.Runtime;

[TestFixture(RwkvStateLocation.Host)]
[TestFixture(RwkvStateLocation.Device)] // the device path, run on the CPU provider's memory
public class RwkvStateRowTests(RwkvStateLocation stateLocation)
{
    private const int Vocab = 256;

    private RwkvModel _model = null!; // set in OneTimeSetUp

    [OneTimeSetUp]
    public void LoadModel() => _model = RwkvModel.Load(RuntimeTestModels.Tiny7, new RwkvModelOptions { StateLocation = stateLocation });

    [OneTimeTearDown]
    public void DisposeModel() => _model.Dispose();

    [Test]
    public void CopyRowFrom_RowOfABatch_ContinuesLikeThatSequenceAlone()
    {
        using RwkvRunner runner = _model.CreateRunner();
        using RwkvState batch = _model.CreateState(3);
        runner.ForwardBatch([1, 2, 34, 105, 7, 8], 2, batch, new float[3 * Vocab]);   // row 1 has fed "\"i"

        using RwkvState single = _model.CreateState();
        single.CopyRowFrom(batch, 1, 0);
        float[] logits = new float[Vocab];
        runner.Forward([110], single, logits);

        // "\"in" from scratch gives the rwkv.cpp logits of the fixture.
        Assert.That(logits, Is.EqualTo(RuntimeTestModels.Tiny7ExpectedLogits).Within(1e-4f));
    }

    [Test]
    public void CopyRowFrom_IntoAMiddleRow_LeavesOtherRowsAlone()
    {
        using RwkvRunner runner = _model.CreateRunner();
        using RwkvState source = _model.CreateState();
        runner.Forward([34, 105], source, new float[Vocab]);
        using RwkvState batch = _model.CreateState(3);

        batch.CopyRowFrom(source, 0, 1);

        for (int i = 0; i < batch.Current.Length; i++)
        {
            int row = source.Current[i].Length;
            Assert.That(batch.Current[i].AsSpan(row, row).ToArray(), Is.EqualTo(source.Current[i]), $"tensor {i}, row 1");
            Assert.That(batch.Current[i].AsSpan(0, row).ToArray(), Is.All.Zero, $"tensor {i}, row 0");
            Assert.That(batch.Current[i].AsSpan(2 * row, row).ToArray(), Is.All.Zero, $"tensor {i}, row 2");
        }
    }

    [Test]
    public void CopyRowFrom_BadRowOrOtherModel_Throws()
    {
        using RwkvState a = _model.CreateState(2);
        using RwkvState b = _model.CreateState();
        using RwkvModel other = RwkvModel.Load(RuntimeTestModels.Tiny7, new RwkvModelOptions { StateLocation = stateLocation });
        using RwkvState foreign = other.CreateState();
        Assert.Multiple(() =>
        {
            Assert.That(() => b.CopyRowFrom(a, 2, 0), Throws.TypeOf<ArgumentOutOfRangeException>());
            Assert.That(() => b.CopyRowFrom(a, 0, 1), Throws.TypeOf<ArgumentOutOfRangeException>());
            Assert.That(() => b.CopyRowFrom(foreign, 0, 0), Throws.TypeOf<StateMismatchException>());
        });
    }
}

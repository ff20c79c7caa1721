using Rwkv.Onnx.Serving;

namespace Rwkv.Onnx.Tests.Serving;

[TestFixture]
public sealed class PrefixStateCacheTests
{
    private static RwkvModel Model => ServingTestModels.Model;

    // A snapshot whose logits say which one it is.
    private static StateSnapshot Snapshot(float mark)
    {
        using RwkvState state = Model.CreateState();
        float[] logits = new float[Model.VocabSize];
        logits[0] = mark;
        return StateSnapshot.Capture(Model, state, logits);
    }

    private static long EntryBytes(int tokens) => Snapshot(0).Bytes + (tokens * sizeof(int));

    [Test]
    public void FindLongest_SeveralCachedPrefixes_ReturnsTheLongestOneOfTheSameStartState()
    {
        var cache = new PrefixStateCache(1L << 30);
        cache.Add(null, [1, 2], Snapshot(2));
        cache.Add(null, [1, 2, 3], Snapshot(3));
        cache.Add(null, [1, 2, 3, 4, 5], Snapshot(5));
        cache.Add("persona", [1, 2, 3, 4], Snapshot(-4));
        cache.Add(null, [1, 9, 3, 4], Snapshot(-1));

        Assert.Multiple(() =>
        {
            Assert.That(cache.FindLongest(null, [1, 2, 3, 4])?.Snapshot.Logits![0], Is.EqualTo(3));
            Assert.That(cache.FindLongest(null, [1, 2, 3, 4, 5])?.Snapshot.Logits![0], Is.EqualTo(5), "a whole prompt is its own longest prefix");
            Assert.That(cache.FindLongest("persona", [1, 2, 3, 4, 5])?.Snapshot.Logits![0], Is.EqualTo(-4));
            Assert.That(cache.FindLongest("other", [1, 2, 3, 4, 5]), Is.Null);
            Assert.That(cache.FindLongest(null, [1]), Is.Null);
            Assert.That(cache.FindLongest(null, [2, 1, 2, 3]), Is.Null);
            Assert.That(cache.Count, Is.EqualTo(5));
        });
    }

    [Test]
    public void Add_BeyondCapacity_EvictsTheLeastRecentlyUsed()
    {
        var cache = new PrefixStateCache(2 * EntryBytes(3));
        cache.Add(null, [1, 1, 1], Snapshot(1));
        cache.Add(null, [2, 2, 2], Snapshot(2));
        Assert.That(cache.FindLongest(null, [1, 1, 1, 7]), Is.Not.Null);   // [1,1,1] is now the more recently used
        cache.Add(null, [3, 3, 3], Snapshot(3));

        Assert.Multiple(() =>
        {
            Assert.That(cache.Entries.Select(e => e.Tokens[0]), Is.EqualTo(new[] { 3, 1 }));
            Assert.That(cache.Bytes, Is.EqualTo(2 * EntryBytes(3)));
            Assert.That(cache.FindLongest(null, [2, 2, 2]), Is.Null);
        });
    }

    [Test]
    public void Add_EntryLargerThanTheCapacity_IsNotKeptAndEvictsNothing()
    {
        var cache = new PrefixStateCache(EntryBytes(3));
        cache.Add(null, [1, 1, 1], Snapshot(1));
        cache.Add(null, [2, 2, 2, 2], Snapshot(2));
        Assert.Multiple(() =>
        {
            Assert.That(cache.Entries.Select(e => e.Tokens[0]), Is.EqualTo(new[] { 1 }));
            Assert.That(cache.Bytes, Is.EqualTo(EntryBytes(3)));
        });
    }

    [Test]
    public void Add_SameKeyTwice_KeepsOneEntry()
    {
        var cache = new PrefixStateCache(1L << 30);
        cache.Add(null, [1, 2], Snapshot(1));
        cache.Add(null, [1, 2], Snapshot(2));
        Assert.Multiple(() =>
        {
            Assert.That(cache.Count, Is.EqualTo(1));
            Assert.That(cache.Bytes, Is.EqualTo(EntryBytes(2)));
        });
    }
}

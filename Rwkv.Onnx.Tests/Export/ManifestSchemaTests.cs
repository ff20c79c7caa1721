using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Json.Schema;
using Rwkv.Onnx.Export;
using Rwkv.Onnx.Export.RandomCheckpoints;
using Rwkv.Onnx.Tests.Fixtures;

namespace Rwkv.Onnx.Tests.Export;

/// <summary>
/// <c>schema/manifest.schema.json</c>, the manifest's contract for outside clients: every export the tests can make
/// validates against it, damaged manifests do not, and its keys are exactly the keys the runtime's reader knows.
/// </summary>
[TestFixture]
public sealed class ManifestSchemaTests
{
    private static readonly ScratchRoot s_root = new("rwkv-manifest-schema-");
    private static JsonSchema? s_schema;
    private static string s_validManifest = "";

    private static JsonSchema Schema => s_schema ?? throw new InvalidOperationException("The schema was not loaded: the fixture's set-up did not run.");

    private static string SchemaPath => Path.Combine(SharedFixtures.RepositoryRoot, "schema", "manifest.schema.json");

    [OneTimeSetUp]
    public void OneTimeSetUp()
    {
        s_root.Create();
        // A registry of its own: the schema's $id may be built once per test run without clashing with the global one.
        s_schema = JsonSchema.FromText(File.ReadAllText(SchemaPath), new BuildOptions { SchemaRegistry = new SchemaRegistry() });
        string output = Path.Combine(s_root.CreateDirectory(), "model");
        RwkvExporter.Export(SharedFixtures.RwkvCppModel("7v0-834K", "FP32"), output, new ExportOptions { WeightDType = WeightDType.Int4 });
        s_validManifest = File.ReadAllText(Path.Combine(output, RwkvContract.ManifestFile));
    }

    [OneTimeTearDown]
    public void OneTimeTearDown() => s_root.Delete();

    // Every tiny fixture version in every dtype, and the export variants that change the manifest's shape.
    public static IEnumerable<TestCaseData> Exports()
    {
        foreach (string model in new[] { "4v0-660K", "5v1-730K", "5v2-730K", "6v0-1m", "7v0-834K" })
        {
            foreach (WeightDType dtype in Enum.GetValues<WeightDType>())
            {
                yield return new TestCaseData((Func<string>)(() => SharedFixtures.RwkvCppModel(model, "FP32")), new ExportOptions { WeightDType = dtype })
                    .SetArgDisplayNames(model, dtype.ToString());
            }
        }
        string Variant(string file) => Path.Combine(SharedFixtures.FixturesDirectory, "rwkv7-variants", file);
        yield return new TestCaseData((Func<string>)(() => Variant("tiny-rwkv-7a-de-L2.pth")), new ExportOptions()).SetArgDisplayNames("7a-de", "fp32");
        yield return new TestCaseData((Func<string>)(() => Variant("tiny-rwkv-7b-dea-L2.pth")), new ExportOptions { ContextLimit = 48 }).SetArgDisplayNames("7b-dea", "fp32");
        yield return new TestCaseData((Func<string>)(() => SharedFixtures.Pth("6v0-1m", "bf16")), new ExportOptions()).SetArgDisplayNames("6v0-1m pth", "fp32");
        yield return new TestCaseData((Func<string>)(() => SharedFixtures.RwkvCppModel("7v0-834K", "FP32")),
            new ExportOptions { WeightDType = WeightDType.Int4, HeadWeightDType = WeightDType.Float16, QuantizedCompute = QuantizedCompute.Float32, BlockSize = 32 })
            .SetArgDisplayNames("7v0-834K", "int4 head fp16 fp32-compute");
        yield return new TestCaseData((Func<string>)(() => SharedFixtures.RwkvCppModel("5v2-730K", "FP32")),
            new ExportOptions { PrefillRecurrence = PrefillRecurrence.Scan }).SetArgDisplayNames("5v2-730K", "scan prefill");
        yield return new TestCaseData((Func<string>)(() => WorldCheckpoint()), new ExportOptions()).SetArgDisplayNames("random world", "fp32");
        yield return new TestCaseData((Func<string>)(() => PileCheckpoint(50304)), new ExportOptions()).SetArgDisplayNames("random unknown tokenizer", "fp32");
    }

    [TestCaseSource(nameof(Exports))]
    public void Export_Manifest_ValidatesAgainstTheSchema(Func<string> checkpoint, ExportOptions options)
    {
        string output = Path.Combine(s_root.CreateDirectory(), "model");
        RwkvExporter.Export(checkpoint(), output, options);

        string json = File.ReadAllText(Path.Combine(output, RwkvContract.ManifestFile));
        Assert.That(Errors(json), Is.Empty);
        using JsonDocument document = JsonDocument.Parse(json);
        Assert.That(document.RootElement.TryGetProperty("generation", out _) && document.RootElement.TryGetProperty("min_onnxruntime_version", out _),
            Is.True, "the exporter writes the optional keys of this version");
    }

    [Test]
    public void Validate_ExporterManifest_HasNoErrors() => Assert.That(Errors(s_validManifest), Is.Empty);

    public static IEnumerable<TestCaseData> Damages()
    {
        yield return new TestCaseData((Action<JsonObject>)(m => m.Remove("weights"))).SetArgDisplayNames("missing weights");
        yield return new TestCaseData((Action<JsonObject>)(m => m["architecture"]!["layers"] = "12")).SetArgDisplayNames("layers as a string");
        yield return new TestCaseData((Action<JsonObject>)(m => m["weight_dtype"] = "int3")).SetArgDisplayNames("unknown dtype");
        yield return new TestCaseData((Action<JsonObject>)(m => m["format_version"] = 1)).SetArgDisplayNames("format 1");
        yield return new TestCaseData((Action<JsonObject>)(m => m["format_version"] = 3)).SetArgDisplayNames("format 3 without a context limit");
        yield return new TestCaseData((Action<JsonObject>)(m => m["context_limit"] = new JsonObject { ["max_tokens"] = 8, ["length_slot"] = "att_shift", ["state_bytes_per_token"] = 4 }))
            .SetArgDisplayNames("context limit in format 2");
        yield return new TestCaseData((Action<JsonObject>)(m => m["tokenizer"]!["vocab_file"] = "x.txt")).SetArgDisplayNames("unknown key");
        yield return new TestCaseData((Action<JsonObject>)(m => m["step_graph"]!["file"] = "../step.onnx")).SetArgDisplayNames("file outside the directory");
        yield return new TestCaseData((Action<JsonObject>)(m => m["state"]![0]!.AsObject().Remove("initial"))).SetArgDisplayNames("state without initial");
        yield return new TestCaseData((Action<JsonObject>)(m => m["generation"]!["stop_token_ids"] = new JsonArray(-1))).SetArgDisplayNames("negative stop id");
        yield return new TestCaseData((Action<JsonObject>)(m => m["generation"]!["chat_template"]!.AsObject().Remove("user_prefix"))).SetArgDisplayNames("template without user prefix");
        yield return new TestCaseData((Action<JsonObject>)(m => m["min_onnxruntime_version"] = "1.18")).SetArgDisplayNames("version without patch");
        yield return new TestCaseData((Action<JsonObject>)(m => m["prefill_graph"]!["custom_ops"]![0]!.AsObject().Remove("domain"))).SetArgDisplayNames("custom op without domain");
    }

    [TestCaseSource(nameof(Damages))]
    public void Validate_DamagedManifest_Fails(Action<JsonObject> damage)
    {
        JsonObject manifest = JsonNode.Parse(s_validManifest)!.AsObject();
        damage(manifest);

        Assert.That(Errors(manifest.ToJsonString()), Is.Not.Empty);
    }

    // Keys the records declare optional but RwkvManifest.FromJson requires by its own check: RwkvFileInfo.Tensors is
    // optional in the record (a file entry's shape) and required of the weights file.
    private static readonly string[] s_requiredByValidation = ["$.weights.tensors"];

    [Test]
    public void Schema_Keys_AreExactlyTheKeysTheRuntimeReads()
    {
        using JsonDocument schema = JsonDocument.Parse(File.ReadAllText(SchemaPath));
        var mismatches = new List<string>();
        Compare(typeof(RwkvManifest), schema.RootElement, schema.RootElement, "$", mismatches);
        Assert.That(mismatches, Is.Empty);
    }

    // Walks the reader's JSON contract (System.Text.Json's view of the manifest records, with the runtime's own options)
    // beside the schema: the same keys on both sides, and required on one side exactly when required on the other.
    private static void Compare(Type type, JsonElement node, JsonElement root, string path, List<string> mismatches)
    {
        JsonElement schema = ObjectSchema(node, root);
        JsonTypeInfo info = RwkvManifest.SerializerOptions.GetTypeInfo(type);
        HashSet<string> schemaKeys = [.. schema.GetProperty("properties").EnumerateObject().Select(p => p.Name)];
        HashSet<string> schemaRequired = schema.TryGetProperty("required", out JsonElement required) ? [.. required.EnumerateArray().Select(r => r.GetString()!)] : [];
        if (!schema.TryGetProperty("additionalProperties", out JsonElement additional) || additional.ValueKind != JsonValueKind.False)
        {
            mismatches.Add($"{path}: the schema leaves the object open");
        }
        foreach (JsonPropertyInfo property in info.Properties)
        {
            string key = $"{path}.{property.Name}";
            if (!schemaKeys.Remove(property.Name))
            {
                mismatches.Add($"{key}: read by the runtime, missing from the schema");
                continue;
            }
            if ((property.IsRequired || s_requiredByValidation.Contains(key)) != schemaRequired.Contains(property.Name))
            {
                mismatches.Add($"{key}: required {(property.IsRequired ? "by the runtime, not by the schema" : "by the schema, not by the runtime")}");
            }
            JsonElement child = schema.GetProperty("properties").GetProperty(property.Name);
            if (ManifestRecord(property.PropertyType) is { } record)
            {
                Compare(record, child, root, key, mismatches);
            }
            else if (ListElement(property.PropertyType) is { } element && ManifestRecord(element) is { } itemRecord)
            {
                Compare(itemRecord, Resolve(ObjectOrArray(child, root), root).GetProperty("items"), root, $"{key}[]", mismatches);
            }
        }
        mismatches.AddRange(schemaKeys.Select(k => $"{path}.{k}: in the schema, unknown to the runtime"));
    }

    private static Type? ManifestRecord(Type type) =>
        type.IsClass && type != typeof(string) && type.Namespace == typeof(RwkvManifest).Namespace && type.Name.StartsWith("Rwkv", StringComparison.Ordinal) ? type : null;

    private static Type? ListElement(Type type) =>
        type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IReadOnlyList<>) ? type.GetGenericArguments()[0] : null;

    // The object branch of a property schema: through $ref, and past a oneOf with null.
    private static JsonElement ObjectSchema(JsonElement node, JsonElement root)
    {
        JsonElement resolved = Resolve(node, root);
        if (resolved.TryGetProperty("oneOf", out JsonElement branches))
        {
            return branches.EnumerateArray().Select(b => Resolve(b, root)).Single(b => b.TryGetProperty("properties", out _));
        }
        return resolved;
    }

    private static JsonElement ObjectOrArray(JsonElement node, JsonElement root) => Resolve(node, root);

    private static JsonElement Resolve(JsonElement node, JsonElement root)
    {
        while (node.TryGetProperty("$ref", out JsonElement reference))
        {
            string name = reference.GetString()!["#/$defs/".Length..];
            node = root.GetProperty("$defs").GetProperty(name);
        }
        return node;
    }

    private static List<string> Errors(string json)
    {
        using JsonDocument document = JsonDocument.Parse(json);
        EvaluationResults results = Schema.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        return results.IsValid
            ? []
            : [.. (results.Details ?? []).Where(d => d.Errors is { Count: > 0 }).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"))];
    }

    private static string WorldCheckpoint()
    {
        string path = Path.Combine(s_root.CreateDirectory(), "world.bin");
        RandomCheckpoint.WriteRwkv7(path, layers: 2, embd: 32, headSize: 32, vocab: 65536, ffn: 64, loraW: 8, loraA: 8, loraV: 8, loraG: 8, seed: 1);
        return path;
    }

    private static string PileCheckpoint(int vocab)
    {
        string path = Path.Combine(s_root.CreateDirectory(), "pile.bin");
        RandomCheckpoint.WriteRwkv4(path, layers: 1, embd: 32, vocab: vocab, ffn: 64, seed: 2);
        return path;
    }
}

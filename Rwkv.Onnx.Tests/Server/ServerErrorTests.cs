using System.Text;
using System.Text.Json;
using Rwkv.Onnx.Server;

namespace Rwkv.Onnx.Tests.Server;

/// <summary>Bad requests get OpenAI's error JSON with the right 4xx status, type and code, and name the field at fault.</summary>
[TestFixture]
public sealed class ServerErrorTests
{
    private const string ApiKey = "sk-test-3f9a";

    private RunningServer _server = null!;
    private RunningServer _guarded = null!;

    [OneTimeSetUp]
    public async Task StartServers()
    {
        _server = await RunningServer.StartAsync(null, options => options with { MaxBodyBytes = 4096, MaxPromptTokens = 64, MaxTokens = 100 });
        _guarded = await RunningServer.StartAsync(null, options => options with { ApiKey = ApiKey });
    }

    [OneTimeTearDown]
    public async Task StopServers()
    {
        await _server.DisposeAsync();
        await _guarded.DisposeAsync();
    }

    private static string Completion(object fields)
    {
        var body = new Dictionary<string, object?> { ["model"] = ServerTestModel.ModelId, ["prompt"] = "Hi", ["max_tokens"] = 2 };
        foreach (var property in fields.GetType().GetProperties())
        {
            body[property.Name] = property.GetValue(fields);
        }
        return JsonSerializer.Serialize(body);
    }

    private async Task<(int Status, string? Type, string? Param, string? Code, string Message)> PostAsync(string path, string body)
    {
        using HttpResponseMessage response = await _server.PostAsync(path, body);
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/json"));
        return await RunningServer.ReadErrorAsync(response);
    }

    [Test]
    public async Task MalformedJson_Is400InvalidJsonWithThePosition()
    {
        var error = await PostAsync("/v1/completions", "{\"model\": \"tiny-rwkv7\", \"prompt\": ");
        Assert.Multiple(() =>
        {
            Assert.That(error.Status, Is.EqualTo(400));
            Assert.That(error.Type, Is.EqualTo("invalid_request_error"));
            Assert.That(error.Code, Is.EqualTo("invalid_json"));
            Assert.That(error.Message, Does.Contain("line 1"));
        });
    }

    [Test]
    public async Task WrongTypeOfField_Is400NamingTheField()
    {
        var error = await PostAsync("/v1/completions", Completion(new { max_tokens = "five" }));
        Assert.Multiple(() =>
        {
            Assert.That(error.Status, Is.EqualTo(400));
            Assert.That(error.Param, Is.EqualTo("max_tokens"));
            Assert.That(error.Message, Does.Contain("'max_tokens'").And.Not.Contain("Rwkv.Onnx"));
        });
    }

    [Test]
    public async Task UnknownModel_Is404ModelNotFound()
    {
        var error = await PostAsync("/v1/chat/completions", JsonSerializer.Serialize(new { model = "gpt-4o", messages = new[] { new { role = "user", content = "Hi" } } }));
        Assert.Multiple(() =>
        {
            Assert.That(error.Status, Is.EqualTo(404));
            Assert.That(error.Code, Is.EqualTo("model_not_found"));
            Assert.That(error.Param, Is.EqualTo("model"));
            Assert.That(error.Message, Does.Contain("'gpt-4o'").And.Contain(ServerTestModel.ModelId));
        });
    }

    [TestCase("/v1/completions", "max_tokens")]
    [TestCase("/v1/chat/completions", "max_tokens")]
    [TestCase("/v1/chat/completions", "max_completion_tokens")]
    public async Task NegativeMaxTokens_Is400NamingTheField(string path, string field)
    {
        var body = new Dictionary<string, object> { ["model"] = ServerTestModel.ModelId, [field] = -3 };
        body[path.Contains("chat", StringComparison.Ordinal) ? "messages" : "prompt"] = path.Contains("chat", StringComparison.Ordinal) ? new[] { new { role = "user", content = "Hi" } } : "Hi";

        var error = await PostAsync(path, JsonSerializer.Serialize(body));

        Assert.Multiple(() =>
        {
            Assert.That(error.Status, Is.EqualTo(400));
            Assert.That(error.Param, Is.EqualTo(field));
            Assert.That(error.Message, Does.Contain("-3").And.Contain("1 to 100"));
        });
    }

    [TestCase("n", 2, "n")]
    [TestCase("temperature", 2.5, "temperature")]
    [TestCase("top_p", 0, "top_p")]
    [TestCase("presence_penalty", -3, "presence_penalty")]
    [TestCase("top_k", -1, "top_k")]
    [TestCase("state", "pirate", "state")]
    public async Task OutOfRangeSamplingField_Is400NamingIt(string field, object value, string param)
    {
        var body = new Dictionary<string, object> { ["model"] = ServerTestModel.ModelId, ["prompt"] = "Hi", [field] = value };
        var error = await PostAsync("/v1/completions", JsonSerializer.Serialize(body));
        Assert.Multiple(() =>
        {
            Assert.That(error.Status, Is.EqualTo(400));
            Assert.That(error.Param, Is.EqualTo(param));
        });
    }

    [Test]
    public async Task ToolMessage_Is400NamingItsRole()
    {
        var error = await PostAsync("/v1/chat/completions", JsonSerializer.Serialize(new
        {
            model = ServerTestModel.ModelId,
            messages = new[] { new { role = "user", content = "Hi" }, new { role = "tool", content = "42" } },
        }));
        Assert.Multiple(() =>
        {
            Assert.That(error.Status, Is.EqualTo(400));
            Assert.That(error.Param, Is.EqualTo("messages[1].role"));
        });
    }

    [Test]
    public async Task PromptOverTheTokenLimit_Is400ContextLengthExceeded()
    {
        var error = await PostAsync("/v1/completions", Completion(new { prompt = new string('a', 65) }));
        Assert.Multiple(() =>
        {
            Assert.That(error.Status, Is.EqualTo(400));
            Assert.That(error.Code, Is.EqualTo("context_length_exceeded"));
            Assert.That(error.Param, Is.EqualTo("prompt"));
            Assert.That(error.Message, Does.Contain("65").And.Contain("64"));
        });
    }

    [Test]
    public async Task OversizedBody_Is413()
    {
        var error = await PostAsync("/v1/completions", Completion(new { prompt = new string('a', 5000) }));
        Assert.Multiple(() =>
        {
            Assert.That(error.Status, Is.EqualTo(413));
            Assert.That(error.Code, Is.EqualTo("request_too_large"));
            Assert.That(error.Message, Does.Contain("4096 bytes"));
        });
    }

    [Test]
    public async Task UnknownPath_Is404ListingTheEndpoints()
    {
        using HttpResponseMessage response = await _server.Http.GetAsync("/v1/embeddings");
        var error = await RunningServer.ReadErrorAsync(response);
        Assert.Multiple(() =>
        {
            Assert.That(error.Status, Is.EqualTo(404));
            Assert.That(error.Message, Does.Contain("/v1/chat/completions"));
        });
    }

    [Test]
    public async Task ApiKey_MissingOrWrongIs401_RightIs200_HealthNeedsNone()
    {
        using HttpResponseMessage missing = await _guarded.Http.GetAsync("/v1/models");
        var missingError = await RunningServer.ReadErrorAsync(missing);
        using HttpResponseMessage wrong = await _guarded.PostAsync("/v1/completions", Completion(new { }), apiKey: "sk-wrong");
        var wrongError = await RunningServer.ReadErrorAsync(wrong);
        using HttpResponseMessage metrics = await _guarded.Http.GetAsync("/metrics");
        using HttpResponseMessage right = await _guarded.PostAsync("/v1/completions", Completion(new { }), apiKey: ApiKey);
        using HttpResponseMessage health = await _guarded.Http.GetAsync("/health");

        Assert.Multiple(() =>
        {
            Assert.That(missingError.Status, Is.EqualTo(401));
            Assert.That(missingError.Code, Is.EqualTo("invalid_api_key"));
            Assert.That(missingError.Message, Does.Contain("Authorization: Bearer"));
            Assert.That(wrongError.Status, Is.EqualTo(401));
            Assert.That(wrongError.Code, Is.EqualTo("invalid_api_key"));
            Assert.That((int)metrics.StatusCode, Is.EqualTo(401), "/metrics is guarded too");
            Assert.That((int)right.StatusCode, Is.EqualTo(200));
            Assert.That((int)health.StatusCode, Is.EqualTo(200));
        });
    }

    [Test]
    public async Task Models_ListsTheServedModel()
    {
        using JsonDocument models = JsonDocument.Parse(await _server.Http.GetStringAsync("/v1/models"));
        Assert.Multiple(() =>
        {
            Assert.That(models.RootElement.GetProperty("object").GetString(), Is.EqualTo("list"));
            Assert.That(models.RootElement.GetProperty("data")[0].GetProperty("id").GetString(), Is.EqualTo(ServerTestModel.ModelId));
        });
    }
}

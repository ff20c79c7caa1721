namespace Rwkv.Onnx.Server;

/// <summary>
/// Where an <see cref="RwkvServer"/> listens and what it accepts. Immutable; each property checks its value. The bounds
/// on concurrency (sequence rows, queue length) and the prefix cache belong to the engine
/// (<see cref="Serving.RwkvEngineOptions"/>).
/// </summary>
public sealed record RwkvServerOptions
{
    /// <summary>The default <see cref="Port"/>.</summary>
    public const int DefaultPort = 8000;

    private readonly string _modelId = "";
    private readonly string _host = "127.0.0.1";
    private readonly int _port = DefaultPort;
    private readonly string? _apiKey;
    private readonly int _maxPromptTokens = 8192;
    private readonly int _maxTokens = 4096;
    private readonly long _maxBodyBytes = 1L << 20;
    private readonly TimeSpan _requestTimeout = TimeSpan.FromMinutes(10);

    /// <summary>The id clients put in <c>model</c> and <c>GET /v1/models</c> lists; any other id gets 404 <c>model_not_found</c>.</summary>
    /// <exception cref="ArgumentException">The id is empty or white space.</exception>
    public required string ModelId
    {
        get => _modelId;
        init
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(value, nameof(ModelId));
            _modelId = value;
        }
    }

    /// <summary>
    /// The address to listen on: an IP address (default 127.0.0.1, loopback only), <c>localhost</c>, or <c>0.0.0.0</c> /
    /// <c>::</c> for every interface. Anything but loopback exposes the model to the network: set <see cref="ApiKey"/>.
    /// </summary>
    /// <exception cref="ArgumentException">Not an IP address nor <c>localhost</c>.</exception>
    public string Host
    {
        get => _host;
        init
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(value, nameof(Host));
            if (value != "localhost" && !System.Net.IPAddress.TryParse(value, out _))
            {
                throw new ArgumentException($"Host must be an IP address (127.0.0.1, 0.0.0.0, ::1) or 'localhost'; got '{value}'.", nameof(Host));
            }
            _host = value;
        }
    }

    /// <summary>The TCP port, 0 to 65535; 0 picks a free one (see <see cref="RwkvServer.Addresses"/>), not allowed with <c>localhost</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside 0 to 65535.</exception>
    public int Port
    {
        get => _port;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value, nameof(Port));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 65535, nameof(Port));
            _port = value;
        }
    }

    /// <summary>
    /// When set, every endpoint but <c>/health</c> requires the header <c>Authorization: Bearer &lt;key&gt;</c> (401
    /// <c>invalid_api_key</c> otherwise). Null (the default) leaves the server open to whoever can reach it.
    /// </summary>
    /// <exception cref="ArgumentException">The key is empty or white space.</exception>
    public string? ApiKey
    {
        get => _apiKey;
        init
        {
            if (value is not null)
            {
                ArgumentException.ThrowIfNullOrWhiteSpace(value, nameof(ApiKey));
            }
            _apiKey = value;
        }
    }

    /// <summary>The longest prompt, in tokens after chat formatting, a request may have (400 <c>context_length_exceeded</c> beyond).</summary>
    /// <exception cref="ArgumentOutOfRangeException">0 or less.</exception>
    public int MaxPromptTokens
    {
        get => _maxPromptTokens;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value, nameof(MaxPromptTokens));
            _maxPromptTokens = value;
        }
    }

    /// <summary>
    /// The most tokens a request may generate: a larger <c>max_tokens</c> gets 400 naming it; a chat request without one
    /// generates up to this many (a completion without one, OpenAI's 16).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">0 or less.</exception>
    public int MaxTokens
    {
        get => _maxTokens;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value, nameof(MaxTokens));
            _maxTokens = value;
        }
    }

    /// <summary>The largest request body in bytes (413 <c>request_too_large</c> beyond).</summary>
    /// <exception cref="ArgumentOutOfRangeException">0 or less.</exception>
    public long MaxBodyBytes
    {
        get => _maxBodyBytes;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value, nameof(MaxBodyBytes));
            _maxBodyBytes = value;
        }
    }

    /// <summary>
    /// How long one request may take from arrival to its last token, queueing included. Past it the sequence is cancelled
    /// and frees its row: a non-streamed request gets 408 <c>request_timeout</c>; a stream gets an error event and ends.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Zero or negative.</exception>
    public TimeSpan RequestTimeout
    {
        get => _requestTimeout;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero, nameof(RequestTimeout));
            _requestTimeout = value;
        }
    }
}

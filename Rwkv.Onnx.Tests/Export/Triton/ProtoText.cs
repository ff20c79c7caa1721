using System.Globalization;
using System.Text;

namespace Rwkv.Onnx.Tests.Export.Triton;

/// <summary>
/// A reader of the protobuf text format (as Triton's <c>config.pbtxt</c> is written), independent of the writer under
/// test: messages <c>name { ... }</c> or <c>name: { ... }</c>, scalars <c>name: value</c> (strings, numbers, enum and bool
/// identifiers), lists <c>name: [ a, b ]</c> of scalars or messages (read as repeated fields, as protobuf does), <c>#</c>
/// comments, and optional <c>,</c> or <c>;</c> separators. Google.Protobuf for C# formats text but does not parse it.
/// </summary>
internal sealed class ProtoText
{
    private readonly List<(string Field, object Value)> _fields = [];

    /// <summary>Parses a whole document (the top-level message).</summary>
    /// <exception cref="FormatException">The text is not in the format.</exception>
    public static ProtoText Parse(string text)
    {
        var reader = new Reader(text);
        ProtoText message = reader.Fields(closing: null);
        return message;
    }

    /// <summary>Every field name, in order, repeated ones once per value.</summary>
    public IEnumerable<string> FieldNames => _fields.Select(f => f.Field);

    /// <summary>The values of repeated message field <paramref name="field"/>.</summary>
    public IReadOnlyList<ProtoText> Messages(string field) => [.. _fields.Where(f => f.Field == field).Select(f => f.Value as ProtoText
        ?? throw new FormatException($"Field '{field}' is a scalar, not a message."))];

    /// <summary>The one message of field <paramref name="field"/>.</summary>
    public ProtoText Message(string field) => Messages(field) is [var only] ? only : throw new FormatException($"Field '{field}' occurs {Messages(field).Count} times; expected once.");

    /// <summary>Whether field <paramref name="field"/> occurs.</summary>
    public bool Has(string field) => _fields.Any(f => f.Field == field);

    /// <summary>The scalar values of repeated field <paramref name="field"/> as written (strings unquoted and unescaped).</summary>
    public IReadOnlyList<string> Scalars(string field) => [.. _fields.Where(f => f.Field == field).Select(f => f.Value as string
        ?? throw new FormatException($"Field '{field}' is a message, not a scalar."))];

    /// <summary>The one scalar of field <paramref name="field"/>.</summary>
    public string Scalar(string field) => Scalars(field) is [var only] ? only : throw new FormatException($"Field '{field}' occurs {Scalars(field).Count} times; expected once.");

    /// <summary>Repeated integer field <paramref name="field"/>.</summary>
    public long[] Int64s(string field) => [.. Scalars(field).Select(s => long.Parse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture))];

    private sealed class Reader(string text)
    {
        private int _at;

        public ProtoText Fields(char? closing)
        {
            var message = new ProtoText();
            while (true)
            {
                SkipSpace();
                if (_at == text.Length)
                {
                    return closing is null ? message : throw Error($"'{closing}' expected before the end");
                }
                if (closing is { } close && text[_at] == close)
                {
                    _at++;
                    return message;
                }
                string name = Identifier();
                SkipSpace();
                bool colon = Peek(':');
                if (colon)
                {
                    _at++;
                    SkipSpace();
                }
                if (Peek('{') || Peek('<'))
                {
                    char open = text[_at++];
                    message._fields.Add((name, Fields(open == '{' ? '}' : '>')));
                }
                else if (Peek('['))   // the colon is optional before a list of messages: `input [ { ... } ]`
                {
                    _at++;
                    SkipSpace();
                    while (!Peek(']'))
                    {
                        message._fields.Add((name, Value()));
                        SkipSpace();
                        if (Peek(','))
                        {
                            _at++;
                            SkipSpace();
                        }
                        else if (!Peek(']'))
                        {
                            throw Error("',' or ']' expected in a list");
                        }
                    }
                    _at++;
                }
                else if (colon)
                {
                    message._fields.Add((name, Value()));
                }
                else
                {
                    throw Error($"':' or '{{' expected after '{name}'");
                }
                SkipSpace();
                if (Peek(',') || Peek(';'))
                {
                    _at++;
                }
            }
        }

        private object Value()
        {
            SkipSpace();
            if (Peek('{'))
            {
                _at++;
                return Fields('}');
            }
            if (Peek('"') || Peek('\''))
            {
                return String();
            }
            int start = _at;
            while (_at < text.Length && (char.IsAsciiLetterOrDigit(text[_at]) || text[_at] is '_' or '-' or '+' or '.'))
            {
                _at++;
            }
            return _at > start ? text[start.._at] : throw Error("a value expected");
        }

        private string String()
        {
            char quote = text[_at++];
            var value = new StringBuilder();
            while (_at < text.Length && text[_at] != quote)
            {
                char ch = text[_at++];
                if (ch == '\\' && _at < text.Length)
                {
                    char escaped = text[_at++];
                    value.Append(escaped switch { 'n' => '\n', 't' => '\t', _ => escaped });
                }
                else
                {
                    value.Append(ch);
                }
            }
            if (_at == text.Length)
            {
                throw Error("unterminated string");
            }
            _at++;
            return value.ToString();
        }

        private string Identifier()
        {
            int start = _at;
            while (_at < text.Length && (char.IsAsciiLetterOrDigit(text[_at]) || text[_at] == '_'))
            {
                _at++;
            }
            return _at > start ? text[start.._at] : throw Error("a field name expected");
        }

        private bool Peek(char ch) => _at < text.Length && text[_at] == ch;

        private void SkipSpace()
        {
            while (_at < text.Length)
            {
                if (char.IsWhiteSpace(text[_at]))
                {
                    _at++;
                }
                else if (text[_at] == '#')
                {
                    while (_at < text.Length && text[_at] != '\n')
                    {
                        _at++;
                    }
                }
                else
                {
                    return;
                }
            }
        }

        private FormatException Error(string what)
        {
            int line = text.AsSpan(0, _at).Count('\n') + 1;
            return new FormatException(string.Create(CultureInfo.InvariantCulture, $"Line {line}: {what}."));
        }
    }
}

// The two tokenizers an rwkv-onnx export names in its manifest that need no library: `bytes` (a token per UTF-8
// byte) and `world` (RWKV World: greedy longest match over the byte strings of rwkv_vocab_v20230424.txt).

/** The tokenizer of the export at `baseUrl`, by `manifest.tokenizer.kind`. */
export async function loadTokenizer(manifest, baseUrl) {
  const { kind, file } = manifest.tokenizer;
  switch (kind) {
    case 'bytes':
      return new ByteTokenizer();
    case 'world': {
      const response = await fetch(new URL(file, baseUrl));
      if (!response.ok) throw new Error(`${file}: HTTP ${response.status}`);
      return WorldTokenizer.parse(await response.text());
    }
    default:
      throw new Error(`tokenizer kind '${kind}' is not supported by this page (bytes and world are)`);
  }
}

export class ByteTokenizer {
  encode(text) {
    return Array.from(new TextEncoder().encode(text));
  }

  tokenBytes(id) {
    return Uint8Array.of(id);
  }
}

export class WorldTokenizer {
  // tokens[id] is the token's bytes; the trie maps a byte path to the token id that ends there.
  constructor(tokens) {
    this.tokens = tokens;
    this.root = new Map();
    tokens.forEach((bytes, id) => {
      if (!bytes) return;
      let node = this.root;
      for (const b of bytes) {
        if (!node.has(b)) node.set(b, new Map());
        node = node.get(b);
      }
      node.id = id;
    });
  }

  /** Parses the vocabulary: lines `<id> <Python str or bytes literal> <byte length>`; id 0 is end of text. */
  static parse(text) {
    const tokens = [];
    for (const [index, line] of text.split('\n').entries()) {
      if (line === '') continue;
      const first = line.indexOf(' ');
      const last = line.lastIndexOf(' ');
      const id = Number(line.slice(0, first));
      const bytes = parsePythonLiteral(line.slice(first + 1, last));
      if (bytes.length !== Number(line.slice(last + 1))) {
        throw new Error(`vocabulary line ${index + 1}: the literal is ${bytes.length} bytes, the line says ${line.slice(last + 1)}`);
      }
      tokens[id] = bytes;
    }
    return new WorldTokenizer(tokens);
  }

  /** Greedy longest match: from each position, the longest token whose bytes come next. */
  encode(text) {
    const bytes = new TextEncoder().encode(text);
    const ids = [];
    let position = 0;
    while (position < bytes.length) {
      let node = this.root;
      let best = -1;
      let end = position;
      for (let i = position; i < bytes.length && (node = node.get(bytes[i])); i++) {
        if (node.id !== undefined) {
          best = node.id;
          end = i + 1;
        }
      }
      if (best < 0) throw new Error(`the vocabulary has no token for byte ${bytes[position]}`);
      ids.push(best);
      position = end;
    }
    return ids;
  }

  tokenBytes(id) {
    return this.tokens[id] ?? new Uint8Array(0);
  }
}

const SIMPLE_ESCAPES = { '\\': 92, "'": 39, '"': 34, a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11 };

// A Python 'str' (UTF-8 encoded) or b'bytes' literal, as the World vocabulary writes its tokens.
function parsePythonLiteral(literal) {
  const isBytes = literal.startsWith('b');
  const body = literal.slice(isBytes ? 2 : 1, -1);
  const out = [];
  const encoder = new TextEncoder();
  const codePoint = (value) => (isBytes ? out.push(value) : out.push(...encoder.encode(String.fromCodePoint(value))));
  for (let i = 0; i < body.length; ) {
    if (body[i] !== '\\') {
      const c = body.codePointAt(i);
      out.push(...encoder.encode(String.fromCodePoint(c)));
      i += c > 0xffff ? 2 : 1;
      continue;
    }
    const e = body[i + 1];
    i += 2;
    const hexDigits = { x: 2, u: 4, U: 8 }[e];
    if (e in SIMPLE_ESCAPES) {
      out.push(SIMPLE_ESCAPES[e]);
    } else if (hexDigits) {
      codePoint(parseInt(body.slice(i, i + hexDigits), 16));
      i += hexDigits;
    } else if (e >= '0' && e <= '7') {
      let digits = e;
      while (digits.length < 3 && body[i] >= '0' && body[i] <= '7') digits += body[i++];
      codePoint(parseInt(digits, 8));
    } else {
      out.push(92); // not an escape: Python keeps the backslash
      i -= 1;
    }
  }
  return Uint8Array.from(out);
}

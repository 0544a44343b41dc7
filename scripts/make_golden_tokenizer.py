#!/usr/bin/python3
"""Golden fixture for the C tokenizer (tests/test_text_tokenizer.c):
tests/fixtures/text_tokenizer.txt.

Independent reference implementations, in Python:
  * BERT's BasicTokenizer (google-research/bert tokenization.py,
    do_lower_case=True), transcribed: _clean_text, _tokenize_chinese_chars,
    whitespace split, lower(), NFD + drop Mn, split on punctuation; bytes are
    decoded with errors="ignore" as BERT's convert_to_unicode does;
  * BERT's WordpieceTokenizer (greedy longest-match-first, [UNK] for a word
    that cannot be pieced or has more than 100 characters);
  * the vocabulary learner documented in include/ibx/text.h, written naively
    (all pair counts recomputed after every merge) to check the C version's
    incremental bookkeeping.

Lines (all strings hex-encoded UTF-8 or raw bytes):
  B <input> <word>,<word>,...        basic tokenizer ("-" for no word)
  C <text>                           training corpus text
  T <vocab_size> <min_freq> <n>      then n lines "P <piece>": the vocabulary
  E <max_len> <input> <id> <id> ...  full encoding with the vocabulary above
Run: /usr/bin/python3 scripts/make_golden_tokenizer.py
"""
import os
import random
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "text_tokenizer.txt")
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


# ---- BERT's BasicTokenizer (uncased) -------------------------------------
def _is_whitespace(ch):
    if ch in " \t\n\r":
        return True
    return unicodedata.category(ch) == "Zs"


def _is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def _is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_chinese_char(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokenize(data):
    text = data.decode("utf-8", "ignore")
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        out.append(" " if _is_whitespace(ch) else ch)
    text = "".join(out)
    out = []
    for ch in text:
        out.append(" %s " % ch if _is_chinese_char(ord(ch)) else ch)
    tokens = "".join(out).strip().split()
    split = []
    for tok in tokens:
        tok = tok.lower()
        tok = "".join(c for c in unicodedata.normalize("NFD", tok)
                      if unicodedata.category(c) != "Mn")
        cur = []
        words = []
        for ch in tok:
            if _is_punctuation(ch):
                if cur:
                    words.append("".join(cur))
                    cur = []
                words.append(ch)
            else:
                cur.append(ch)
        if cur:
            words.append("".join(cur))
        split.extend(words)
    return " ".join(split).split()


# ---- WordPiece -----------------------------------------------------------
def wordpiece(word, vocab):
    chars = list(word)
    if len(chars) > 100:
        return ["[UNK]"]
    start, pieces = 0, []
    while start < len(chars):
        end, cur = len(chars), None
        while start < end:
            sub = "".join(chars[start:end])
            if start > 0:
                sub = "##" + sub
            if sub in vocab:
                cur = sub
                break
            end -= 1
        if cur is None:
            return ["[UNK]"]
        pieces.append(cur)
        start = end
    return pieces


def encode(data, vocab, ids, max_len):
    pieces = []
    for w in basic_tokenize(data):
        pieces.extend(wordpiece(w, vocab))
    pieces = pieces[:max_len - 2]
    out = [ids["[CLS]"]] + [ids[p] for p in pieces] + [ids["[SEP]"]]
    return out + [0] * (max_len - len(out))


def train(texts, vocab_size, min_freq):
    words = {}
    for t in texts:
        for w in basic_tokenize(t.encode()):
            words[w] = words.get(w, 0) + 1
    chars = {}
    for w, f in words.items():
        for i, ch in enumerate(w):
            p = ch if i == 0 else "##" + ch
            chars[p] = chars.get(p, 0) + f
    alpha = [p for p, c in chars.items() if c >= min_freq]
    alpha.sort(key=lambda p: (-chars[p], p.encode()))
    alpha = alpha[:vocab_size - len(SPECIALS)]
    pieces = SPECIALS + alpha
    ids = {p: k for k, p in enumerate(pieces)}
    seqs = []
    for w, f in words.items():
        if len(w) < 2 or len(w) > 100:
            continue
        s = [ids.get(ch if i == 0 else "##" + ch) for i, ch in enumerate(w)]
        if None in s:
            continue
        seqs.append([s, f])
    while len(pieces) < vocab_size:
        counts = {}
        for s, f in seqs:
            for i in range(len(s) - 1):
                counts[(s[i], s[i + 1])] = counts.get((s[i], s[i + 1]), 0) + f
        counts = {k: v for k, v in counts.items() if v > 0}
        if not counts:
            break
        (a, b), c = min(counts.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1]))
        if c < min_freq:
            break
        new = pieces[a] + pieces[b][2:]
        if new not in ids:
            ids[new] = len(pieces)
            pieces.append(new)
        nid = ids[new]
        for item in seqs:
            s, out, i = item[0], [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(nid)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            item[0] = out
    return pieces


CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A computer scientist is someone who fixes things that aren't broken.",
    "Don't panic! The answer is 42, or so they say; the question is unknown.",
    "Café crème brûlée à la carte: naïve façades, Ångström units, smörgåsbord.",
    "Programmers write programs; programs are written by programmers who program.",
    "Ελληνικά γράμματα και Кириллица тоже: привет, мир!",
    "中文字符 and 日本語 are split per ideograph.",
    "Running, runner, runs, ran: the runner was running in the running race.",
    "Hello—world… “quoted” «guillemets» ¿question? ¡exclamation!",
    "Tokenization tokenizes tokens; a tokenizer's tokens are tokenized.",
    "<br />HTML-ish   whitespace\tand\nnewlines\r\nare spaces.",
    "email@example.com, 3.14159, $100 & 50% off #hashtag @mention",
]

EXTRA = [
    b"",
    b"   \t\n  ",
    b"Hello, World!",
    b"UNKNOWNWORDS zzzqqqxxx",
    b"\xff\xfeinvalid \xc3\x28 bytes \xe4\xb8\x41 \xed\xa0\x80 \xf4\x90\x80\x80 end\xc3",
    b"no nul byte here but \x01control\x7f chars \xc2\x85",
    "soft\u00adhyphen zero\u200bwidth bom\ufeff nbsp\u00a0here".encode(),
    "İstanbul ÇAĞRI ŁÓDŹ Øresund Ærø ǅ ﬁ ﬂ Ⅸ".encode(),
    "한국어 텍스트 가각".encode(),
    "豈 更 compat ideographs".encode(),
    ("a" * 120 + " " + "b" * 100).encode(),
    "e\u0301 combining a\u0308 marks \u0300alone".encode(),
    "arabic، punctuation؟ ٪ and devanagari।".encode(),
]


def random_strings(n, seed):
    rng = random.Random(seed)
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
              (0x900, 0x97F), (0x1E00, 0x1FFF), (0x2000, 0x206F), (0x20A0, 0x22FF),
              (0x3000, 0x30FF), (0x4E00, 0x4E3F), (0xAC00, 0xAC3F), (0xF900, 0xF93F),
              (0xFE30, 0xFF65), (0x1F300, 0x1F64F), (0x10400, 0x1044F)]
    out = []
    for _ in range(n):
        chars = []
        for _ in range(rng.randint(1, 40)):
            lo, hi = rng.choice(blocks)
            cp = rng.randint(lo, hi)
            if 0xD800 <= cp <= 0xDFFF or cp == 0x3A3:  # surrogates; final sigma
                cp = 0x20
            chars.append(chr(cp))
        data = "".join(chars).encode()
        if rng.random() < 0.3:  # sprinkle invalid bytes
            pos = rng.randint(0, len(data))
            data = data[:pos] + bytes([rng.randint(0x80, 0xFF)]) + data[pos:]
        out.append(data)
    return out


def main():
    lines = ["# generated by scripts/make_golden_tokenizer.py (Python unicodedata %s)"
             % unicodedata.unidata_version]
    inputs = [t.encode() for t in CORPUS] + EXTRA + random_strings(300, 12)
    for data in inputs:
        words = basic_tokenize(data)
        lines.append("B %s %s" % (data.hex() or "-",
                                  ",".join(w.encode().hex() for w in words) or "-"))
    for t in CORPUS:
        lines.append("C %s" % t.encode().hex())
    for vocab_size, min_freq in ((60, 1), (150, 2), (400, 1)):
        pieces = train(CORPUS, vocab_size, min_freq)
        lines.append("T %d %d %d" % (vocab_size, min_freq, len(pieces)))
        lines.extend("P %s" % p.encode().hex() for p in pieces)
        vocab = set(pieces)
        ids = {p: k for k, p in enumerate(pieces)}
        for data in [t.encode() for t in CORPUS] + EXTRA:
            for max_len in (2, 9, 64):
                enc = encode(data, vocab, ids, max_len)
                lines.append("E %d %s %s" % (max_len, data.hex() or "-",
                                             " ".join(str(x) for x in enc)))
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", OUT, len(lines), "lines")


if __name__ == "__main__":
    main()

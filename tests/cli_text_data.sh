#!/usr/bin/env bash
# ibx data for text datasets, end to end (about a second):
#  - an aclImdb tree written here: info, convert (train.h5 + test.h5, the test
#    split with the train split's vocabulary, read back with h5py: layout and
#    checksums as docs/data.md says), info on the converted file, baseline on
#    the directory and on the converted files (same accuracy);
#  - the embedded fortunes default when Debian's fortunes package is there
#    (and the baseline on one fold of its train split);
#  - bad input: a missing directory, an empty review, a missing class
#    directory, a bad option value, a corrupt converted file: one-line
#    errors and a non-zero status.
set -euo pipefail
ibx=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3
. "$(dirname "$0")/support/expect.sh"

# ---- a small aclImdb tree: 12 + 12 train reviews, 4 + 4 test
imdb=$tmp/aclImdb
mkdir -p "$imdb"/{train,test}/{pos,neg} "$imdb/train/unsup"
good=(great wonderful superb lovely brilliant moving)
bad=(awful terrible boring dreadful poor dull)
for split in train test; do
  n=12; [ $split = test ] && n=4
  for i in $(seq 0 $((n - 1))); do
    echo "A ${good[$((i % 6))]} film.<br /><br />The acting was ${good[$(((i + 1) % 6))]} and the plot ${good[$(((i + 2) % 6))]}." > "$imdb/$split/pos/${i}_9.txt"
    echo "A ${bad[$((i % 6))]} film. The acting was ${bad[$(((i + 3) % 6))]}, the plot ${bad[$(((i + 4) % 6))]}." > "$imdb/$split/neg/${i}_2.txt"
  done
done
echo "ignored" > "$imdb/train/unsup/0_0.txt"
echo "9 0:1" > "$imdb/train/labeledBow.feat"
echo "http://www.imdb.com/title/tt0000001/usercomments" > "$imdb/train/urls_pos.txt"

"$ibx" data info --format imdb --max-len 16 --vocab-size 120 --min-freq 1 "$imdb" > "$tmp/info.txt"
grep -q "^sequences:  24$" "$tmp/info.txt" || fail "info: $(cat "$tmp/info.txt")"
grep -q "^max_len:    16 " "$tmp/info.txt" || fail "info max_len: $(cat "$tmp/info.txt")"
grep -q "  0 neg  *12$" "$tmp/info.txt" || fail "info classes: $(cat "$tmp/info.txt")"

"$ibx" data convert --format imdb --max-len 16 --vocab-size 120 --min-freq 1 "$imdb" "$tmp/h5" > "$tmp/conv.txt"
grep -q "wrote 24 sequences of imdb train" "$tmp/conv.txt" || fail "convert: $(cat "$tmp/conv.txt")"
grep -q "wrote 8 sequences of imdb test" "$tmp/conv.txt" || fail "convert: $(cat "$tmp/conv.txt")"
"$ibx" data info --format h5 "$tmp/h5/test.h5" > "$tmp/info_h5.txt"
grep -q "^name:       imdb test$" "$tmp/info_h5.txt" || fail "info h5: $(cat "$tmp/info_h5.txt")"
grep -q "^raw texts:  kept$" "$tmp/info_h5.txt" || fail "info h5 texts"

$py - "$tmp/h5" <<'PY'
import sys, zlib, h5py, numpy as np
d = sys.argv[1]
tr, te = h5py.File(d + "/train.h5", "r"), h5py.File(d + "/test.h5", "r")
for f in (tr, te):
    assert f.attrs["ibx_format"] == b"ibx-text-dataset" or f.attrs["ibx_format"] == "ibx-text-dataset"
    assert int(f.attrs["ibx_format_version"]) == 1 and int(f.attrs["max_len"]) == 16
    ids, lens, labels = f["ids"][()], f["lengths"][()], f["labels"][()]
    assert ids.dtype == np.int32 and ids.shape == (len(labels), 16)
    for row, n in zip(ids, lens):
        assert row[0] == 2 and row[n - 1] == 3 and (row[n:] == 0).all()
    crc = lambda a: zlib.crc32(np.ascontiguousarray(a, "<i4").tobytes())
    assert crc(ids) == int(f.attrs["ids_crc32"]) and crc(lens) == int(f.attrs["lengths_crc32"])
    assert crc(labels) == int(f.attrs["labels_crc32"])
    vocab = [bytes(p).decode() for p in f["vocab"][()]]
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert zlib.crc32("\n".join(vocab).encode()) == int(f.attrs["vocab_crc32"])
    off = f["text_offsets"][()]
    assert off[0] == 0 and off[-1] == len(f["text_bytes"])
# the test split uses the train split's vocabulary
assert (tr["vocab"][()] == te["vocab"][()]).all()
text0 = bytes(te["text_bytes"][te["text_offsets"][0]:te["text_offsets"][1] - 1]).decode()
assert text0.startswith("A ") and "<br />" not in text0
PY

"$ibx" data baseline --format imdb --max-len 16 --vocab-size 120 --min-freq 1 "$imdb" > "$tmp/b1.txt"
"$ibx" data baseline --format h5 "$tmp/h5" > "$tmp/b2.txt"
grep -q "test accuracy  1.0000" "$tmp/b1.txt" || fail "baseline on the easy fixture: $(cat "$tmp/b1.txt")"
[ "$(grep 'test accuracy' "$tmp/b1.txt")" = "$(grep 'test accuracy' "$tmp/b2.txt")" ] ||
  fail "baseline differs between raw and converted data: $(cat "$tmp/b1.txt" "$tmp/b2.txt")"

# ---- token deletion and the heatmap page with the bag-of-words model
"$ibx" data baseline --format h5 --deletion --html "$tmp/bow.html" --html-sentences 3 \
  --plot "$tmp/curves.png" "$tmp/h5" > "$tmp/b3.txt"
[ -s "$tmp/curves.png" ] && [ -s "$tmp/curves.dat" ] || fail "no curves.png/.dat"
grep -q "token deletion on imdb test (8 sequences, deleted, 10 steps)" "$tmp/b3.txt" ||
  fail "deletion: $(cat "$tmp/b3.txt")"
grep -q "wrote 3 sentences to $tmp/bow.html" "$tmp/b3.txt" || fail "html: $(cat "$tmp/b3.txt")"
[ "$(grep -c 'class="sentence"' "$tmp/bow.html")" -eq 3 ] || fail "html sentences"
! grep -q "://" "$tmp/bow.html" || fail "the page references a URL"
# the model's own weights rank tokens better than random, random better than their reverse
$py - "$tmp/b3.txt" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) >= 6 and parts[-5].replace(".", "").replace("-", "").isdigit():
        rows[" ".join(parts[:-5])] = [float(x) for x in parts[-5:]]
w, r, rev = rows["bow weight"], rows["random"], rows["reversed bow weight"]
assert w[0] < r[0] < rev[0], (w, r, rev)       # MoRF area
assert w[2] > 0 and abs(w[2] + rev[2]) < 1e-3   # score and its negation
PY
"$ibx" data baseline --format h5 --replace-with-mask "$tmp/h5" > "$tmp/b4.txt"
grep -q "replaced by \[MASK\]" "$tmp/b4.txt" || fail "mask: $(cat "$tmp/b4.txt")"
expect 2 "go with baseline" "$ibx" data info --format imdb --deletion "$imdb"

# ---- the embedded default (Debian's fortunes package)
if [ -r /usr/share/games/fortunes/computers ]; then
  "$ibx" data info --format fortunes --split test default > "$tmp/f.txt"
  grep -q "^name:       fortunes test$" "$tmp/f.txt" || fail "fortunes: $(cat "$tmp/f.txt")"
  grep -q "songs-poems" "$tmp/f.txt" || fail "fortunes classes: $(cat "$tmp/f.txt")"
  # K-fold cross-validation of the baseline: fold 3 of 5 of the train split
  "$ibx" data baseline --format fortunes --validation --validation-fold 3 --vocab-size 300 \
    default > "$tmp/fold.txt"
  grep -q "on fortunes train (the train split without fold 3 of 5)" "$tmp/fold.txt" \
    || fail "fold: $(cat "$tmp/fold.txt")"
  $py - "$tmp/fold.txt" <<'PY'
import re, sys
tr, te = map(int, re.search(r"train: (\d+) sequences, test: (\d+)", open(sys.argv[1]).read()).groups())
assert tr + te == 2475 and 490 <= te <= 500, (tr, te)
PY
fi

# ---- bad input
expect 1 "cannot open" "$ibx" data info --format imdb "$tmp/nowhere"
cp -r "$imdb" "$tmp/empty_review"
: > "$tmp/empty_review/train/pos/99_9.txt"
expect 1 "99_9.txt: empty review" "$ibx" data info --format imdb "$tmp/empty_review"
rm -rf "$tmp/empty_review/train/pos"
expect 1 "train/pos" "$ibx" data convert --format imdb "$tmp/empty_review" "$tmp/h5x"
expect 2 "bad --max-len" "$ibx" data info --format imdb --max-len 1 "$imdb"
expect 2 "need --validation" "$ibx" data baseline --format imdb --validation-fold 1 "$imdb"
expect 2 "--validation-fold 3 must be below --validation-folds 3" "$ibx" data baseline \
  --format imdb --validation --validation-fold 3 --validation-folds 3 "$imdb"
expect 2 "bad --validation-folds '1'" "$ibx" data baseline --format imdb --validation \
  --validation-folds 1 "$imdb"
expect 2 "convert reads fortunes, fortunes-corpus or imdb" "$ibx" data convert --format text-h5 "$tmp/h5" "$tmp/h5y"
cp "$tmp/h5/train.h5" "$tmp/corrupt.h5"
$py - "$tmp/corrupt.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    f["labels"][0] = 1 - f["labels"][0]
PY
expect 1 "labels_crc32 mismatch" "$ibx" data info --format text-h5 "$tmp/corrupt.h5"
echo "cli_text_data: ok"

#!/usr/bin/env bash
# ibx report in a real browser: a tiny sweep (plain vs aib at two beta, two
# seeds of one of them, real Fashion-MNIST, a few hundred images) is trained,
# evaluated (error, interpretability, attribution, a heatmap picture) and
# reported; the page is rendered by headless Chromium. Checks: the HTML
# references nothing outside itself (no URL, no script; links are #anchors,
# pictures data: URIs); every run id of the sweep is in the runs table and
# the result tables link to the runs; in the browser every <img> decoded and
# every inline <svg> has a size (a copy of the page with a load-time checker
# appended, read back with --dump-dom); the screenshot is not blank (rows
# of pixels that differ from their neighbours cover a good part of the page);
# ibx collect: the IBA table fits a terminal (methods x metrics per model, no
# bbox column without boxes, said once); plain is a reference line for beta
"$ibx" collect results/tiny > collect.out || { cat collect.out; fail "collect"; }
grep -q "^| model | method | deg 8x8 | deg 14x14 |$" results/tiny/tables/iba_table1.md \
  || { cat results/tiny/tables/iba_table1.md; fail "IBA table layout"; }
[ "$(grep -c "bbox column left out" collect.out)" -eq 1 ] || fail "left-out bbox not said once"
grep -q "^| vgg16-plain | random |" results/tiny/tables/iba_table1.md || fail "model block"
grep -q "with lines dt 2 lw 2 title 'vgg16-plain (does not use beta)'" \
  results/tiny/tables/ablation_beta.gp || fail "plain is a point on the beta axis"
[ -s results/tiny/tables/ablation_beta.png ] || fail "ablation_beta.png not drawn"

# a run directory alone gets its own report; a missing directory fails with a
# one-line error. Also ibx collect's IBA table layout and its beta ablation
# plot (plain as a reference line). Skipped (77) only when chromium is not
# installed.
set -euo pipefail
ibx=$1
here=$(cd "$(dirname "$0")" && pwd)
command -v chromium > /dev/null || { echo "SKIP: chromium is not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAILED: $*"; exit 1; }
cat > tiny.ini <<INI
[sweep]
name = tiny
results = $tmp/results
[zip]
config = $here/../jobs/fmnist_plain.ini, $here/../jobs/fmnist_aib.ini, $here/../jobs/fmnist_aib.ini, $here/../jobs/fmnist_aib.ini
model.beta = 0.01, 0.01, 0.1, 0.1
train.seed = 0, 0, 0, 1
[set]
data.train_limit = 256
data.test_limit = 64
train.epochs = 2
train.warmup_epochs = 0
model.beta_warmup_epochs = 0
train.batch_size = 64
train.log_every = 1
model.width = 0.125
[slurm]
tasks = 1
[stage train]
command = train {config} --quiet
outputs = metrics.h5
[stage eval]
after = train
command = eval error --ckpt {run_dir} --limit 64
outputs = results/error.h5
[stage interpret]
after = eval
command = eval interpret --ckpt {run_dir} --limit 16 --mods color_block --skip-without-attention
[stage attribute]
after = eval
command = attribute {run_dir} --images 2 --points 5 --stats 64 --quiet --methods random,saliency
outputs = results/attribution.h5
[stage heatmaps]
after = attribute
command = attribute {run_dir} --image 0 --png {run_dir}/heatmaps.png --stats 64 --quiet --methods saliency,gradcam
outputs = heatmaps.png
INI
t0=$(date +%s)
OMP_NUM_THREADS=1 "$ibx" sweep run tiny.ini --local -j 2 > run.out 2>&1 || { cat run.out; fail "sweep run"; }
echo "sweep: $(tail -n 1 run.out) ($(($(date +%s) - t0)) s)"
ids=($(ls results/tiny | grep -E '^[0-9a-f]{16}$'))
[ ${#ids[@]} -eq 4 ] || fail "expected 4 runs, got ${#ids[@]}"

"$ibx" report results/tiny > report.out || { cat report.out; fail "ibx report"; }
cat report.out
grep -q "^report: results/tiny/report.html (4 runs" report.out || fail "report path not printed"
html=results/tiny/report.html

# self-contained: no URL, no script, every link an anchor, every picture inline
/usr/bin/python3 - "$html" "${ids[@]}" <<'PY'
import re, sys
from html.parser import HTMLParser
path, ids = sys.argv[1], sys.argv[2:]
text = open(path, encoding="utf-8").read()
bad = re.findall(r"(?i)\b(?:https?|ftp|file)://|@import|url\(|<script|<link|<iframe|<object", text)
assert not bad, "external reference or script in the page: %s" % bad[:5]
class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.ids = [], set()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("href", "src", "xlink:href", "srcset", "poster", "action"):
            if k in a:
                self.refs.append((tag, k, a[k]))
        if "id" in a:
            self.ids.add(a["id"])
page = P()
page.feed(text)
for tag, k, v in page.refs:
    assert v.startswith("#") or v.startswith("data:image/png;base64,"), (tag, k, v[:80])
    if v.startswith("#"):
        assert v[1:] in page.ids, "dangling anchor %s" % v
imgs = [v for t, k, v in page.refs if t == "img"]
assert len(imgs) == len(ids), "expected one heatmap picture per run, got %d" % len(imgs)
for i in ids:
    assert "run-" + i in page.ids, "run %s has no row in the runs table" % i
    assert "curves-" + i in page.ids, "run %s has no curves section" % i
# the result tables link their numbers to the runs
for table in ("aib_table1", "aib_table2", "iba_table1"):
    start = text.index("id='%s'" % table)
    body = text[start:text.index("</table>", start)]
    linked = set(re.findall(r"href='#run-([0-9a-f]{16})'", body))
    assert linked, "%s links to no run" % table
    assert linked <= set(ids), (table, linked)
t1 = text[text.index("id='aib_table1'"):]
t1 = t1[:t1.index("</table>")]
assert set(re.findall(r"href='#run-([0-9a-f]{16})'", t1)) == set(ids), "Table 1 misses a run"
assert "± " in t1, "no mean ± std cell for the two seeds"
iba = text[text.index("id='iba_table1'"):]
assert "<th>bbox</th>" not in iba[:iba.index("</table>")], "bbox column on a dataset without boxes"
assert "bbox column is left out" in iba, "left-out bbox not said"
abl = text[text.index("id='ablations'"):]
assert "vgg16-plain (does not use beta)" in abl, "plain is not a reference line on the beta plot"
assert text.count("<svg") >= 4 * 6 + 1, "expected 6 curve charts per run and an ablation"
print("page: %d links/pictures, all inline; %d svg; ids in tables" % (len(page.refs), text.count("<svg")))
PY

# in the browser: every picture decoded, every svg laid out, the page not blank
sed 's|</body>|<script>addEventListener("load",function(){var b=0,s=0,i,r;var im=document.images;for(i=0;i<im.length;i++)if(!im[i].complete\|\|im[i].naturalWidth==0)b++;var sv=document.querySelectorAll("svg");for(i=0;i<sv.length;i++){r=sv[i].getBoundingClientRect();if(r.width<50\|\|r.height<50)s++;}document.body.setAttribute("data-check","imgs="+im.length+" broken="+b+" svgs="+sv.length+" empty="+s);});</script></body>|' \
  "$html" > check.html
chromium_run() { timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --disable-dev-shm-usage --user-data-dir="$tmp/chromium-profile" --virtual-time-budget=5000 \
  "$@" 2> chromium.err; }
chromium_run --dump-dom "file://$tmp/check.html" > dom.html || { tail chromium.err; fail "chromium --dump-dom"; }
check=$(grep -o 'data-check="[^"]*"' dom.html) || { tail chromium.err; fail "the checker did not run"; }
echo "browser: $check"
[[ $check =~ imgs=4\ broken=0\ svgs=([0-9]+)\ empty=0 ]] || fail "broken picture or empty svg: $check"
for id in "${ids[@]}"; do grep -q "$id" dom.html || fail "run $id not in the rendered page"; done
chromium_run --screenshot="$tmp/shot.png" --window-size=1280,4000 "file://$tmp/$html" \
  || { tail chromium.err; fail "chromium --screenshot"; }
/usr/bin/python3 - shot.png <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "screenshot is not a PNG"
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", data[pos + 8:pos + 18])
    elif kind == b"IDAT":
        idat += data[pos + 8:pos + 8 + n]
    pos += 12 + n
raw = zlib.decompress(idat)
bpp = {2: 3, 6: 4}[ctype] * depth // 8
stride = 1 + w * bpp
# A filtered row is all zeros (after its first pixel) exactly where the page
# is flat: a blank page has no row with anything else.
busy = sum(1 for y in range(h) if raw[y * stride + 1 + bpp:(y + 1) * stride].strip(b"\0"))
print("screenshot %dx%d: %d of %d pixel rows have content" % (w, h, busy, h))
assert busy > h // 5, "the page looks blank"
PY

# ibx collect: the IBA table fits a terminal (methods x metrics per model, no
# bbox column without boxes, said once); plain is a reference line for beta
"$ibx" collect results/tiny > collect.out || { cat collect.out; fail "collect"; }
grep -q "^| model | method | deg 8x8 | deg 14x14 |$" results/tiny/tables/iba_table1.md \
  || { cat results/tiny/tables/iba_table1.md; fail "IBA table layout"; }
[ "$(grep -c "bbox column left out" collect.out)" -eq 1 ] || fail "left-out bbox not said once"
grep -q "^| vgg16-plain | random |" results/tiny/tables/iba_table1.md || fail "model block"
grep -q "with lines dt 2 lw 2 title 'vgg16-plain (does not use beta)'" \
  results/tiny/tables/ablation_beta.gp || fail "plain is a point on the beta axis"
[ -s results/tiny/tables/ablation_beta.png ] || fail "ablation_beta.png not drawn"

# a run directory alone
"$ibx" report "results/tiny/${ids[1]}" --out one.html > one.out || { cat one.out; fail "run report"; }
grep -q "report: one.html (1 runs" one.out || fail "run report summary: $(cat one.out)"
grep -q "id='run-${ids[1]}'" one.html || fail "run report lacks its run"
grep -q "ibx report: run ${ids[1]}" one.html || fail "run report title"

# bad input: one line, exit 2
set +e; err=$("$ibx" report "$tmp/nowhere" 2>&1); st=$?; set -e
[ $st -eq 2 ] || fail "missing directory: exit $st"
echo "$err" | grep -q "nowhere: cannot open the sweep directory" || fail "message: $err"
echo "1 passed, 0 failed"

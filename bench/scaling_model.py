#!/usr/bin/python3
"""Scaling model of ibx's data-parallel training (docs/performance.md, issue 14).

    bench/scaling_model.py bench/results/vcluster_scaling.txt

Reads bench/vcluster_scaling.sh's output and prints (markdown) the model's
prediction next to every measurement, then the extrapolation to many nodes.

Model, per step, N ranks (one per node), gradient S bytes in n_b buckets:
  ring allreduce   T_ar(N) = n_b * 2(N-1) * alpha + 2(N-1)/N * S / B_eff
  B_eff            = min(link rate, what the hosts' TCP stacks reach: measured
                     on the unshaped veth, S / T_ar(2 nodes, unshaped))
  alpha            = per-message, per-hop latency: the one-float allreduce on
                     2 nodes / 2 (a 2-rank ring has 2 steps)
  no overlap       T_step = T_c + T_ar
  overlap          T_step = T_c + max(T_ar / n_b, T_ar - f_b * T_c)
                   (the last bucket is reduced after backward ends; the others
                   hide behind backward, f_b = 2/3 of the compute)
  T_c              = the 1-node step time (no communication)
With one bucket (the gradient fits in train.bucket_mb) both are the same.
"""
import math
import re
import sys

F_BACKWARD = 2.0 / 3.0


def parse(path):
    rows = []
    for line in open(path):
        if line.startswith("#") or "step_ms=" not in line:
            continue
        kv = dict(re.findall(r"(\w+)=([^\s]+)", line))
        rows.append(kv)
    return rows


def rate_bytes(link):
    return {"10gbit": 10e9 / 8, "1gbit": 1e9 / 8}.get(link, float("inf"))


def t_allreduce(n, s_bytes, n_buckets, alpha, b_eff):
    if n == 1:
        return 0.0
    return n_buckets * 2 * (n - 1) * alpha + 2 * (n - 1) / n * s_bytes / b_eff


def t_step(t_c, t_ar, n_buckets, overlap):
    if not overlap or n_buckets <= 1:
        return t_c + t_ar
    return t_c + max(t_ar / n_buckets, t_ar - F_BACKWARD * t_c)


def main():
    rows = parse(sys.argv[1])
    get = lambda link, n, bucket="25": next(
        r for r in rows if r["link"] == link and r["nodes"] == str(n) and r["bucket_mb"] == bucket)
    one = get("off", 1)
    t_c = float(one["step_ms"]) / 1e3
    s = int(one["params"]) * 4
    two = get("off", 2)
    alpha = float(two["latency_us"]) / 1e6 / 2
    b_host = s / (float(two["allreduce_ms"]) / 1e3)
    print("Inputs: gradient S = %.1f MB, 1-node step T_c = %.0f ms, alpha = %.1f us, "
          "host TCP bandwidth (unshaped 2-node allreduce) = %.2f Gbit/s\n"
          % (s / 1e6, t_c * 1e3, alpha * 1e6, b_host * 8 / 1e9))
    print("| link | nodes | bucket MB | allreduce ms measured | predicted | error | "
          "step ms measured | predicted (no overlap / overlap) | error (overlap) | weak-scaling eff. measured |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        n = int(r["nodes"])
        if n == 1:
            print("| %s | 1 | %s | - | - | - | %.0f | %.0f | - | 1.00 |"
                  % (r["link"], r["bucket_mb"], float(r["step_ms"]), t_c * 1e3))
            continue
        bucket = float(r["bucket_mb"]) * (1 << 20)
        nb = max(1, math.ceil(s / bucket))
        b_eff = min(rate_bytes(r["link"]), b_host)
        # the blocking allreduce of the whole gradient is one message
        ar_pred = t_allreduce(n, s, 1, alpha, b_eff)
        ar_meas = float(r["allreduce_ms"]) / 1e3
        t_ar_b = t_allreduce(n, s, nb, alpha, b_eff)
        st_no = t_step(t_c, t_ar_b, nb, False)
        st_ov = t_step(t_c, t_ar_b, nb, True)
        st_meas = float(r["step_ms"]) / 1e3
        print("| %s | %d | %s | %.0f | %.0f | %+.0f %% | %.0f | %.0f / %.0f | %+.0f %% | %.2f |"
              % (r["link"], n, r["bucket_mb"], ar_meas * 1e3, ar_pred * 1e3,
                 100 * (ar_pred - ar_meas) / ar_meas, st_meas * 1e3, st_no * 1e3, st_ov * 1e3,
                 100 * (st_ov - st_meas) / st_meas, t_c / st_meas))
    # extrapolation: full-width VGG-16-BN (59 MB gradient), the quiet-machine
    # 1-rank step at batch 64 of docs/performance.md (issue 5: ~0.89 s)
    print("\nExtrapolation, full-width VGG-16-BN (S = 59 MB), T_c = 0.89 s per rank-step, "
          "ring allreduce, 25 MB buckets (n_b = 3):\n")
    print("| nodes | 10 Gbit/s, 20 us: allreduce ms | eff. no overlap | eff. overlap | "
          "1 Gbit/s, 50 us: allreduce ms | eff. no overlap | eff. overlap |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    s_full, t_full, nb = 59e6, 0.89, 3
    for n in (2, 4, 8, 16, 64, 256, 1024):
        cells = []
        for b, a in ((10e9 / 8, 20e-6), (1e9 / 8, 50e-6)):
            t_ar = t_allreduce(n, s_full, nb, a, b)
            cells += ["%.0f" % (t_ar * 1e3), "%.2f" % (t_full / t_step(t_full, t_ar, nb, False)),
                      "%.2f" % (t_full / t_step(t_full, t_ar, nb, True))]
        print("| %d | %s |" % (n, " | ".join(cells)))


if __name__ == "__main__":
    main()

"""Charts from a compare.py run (bench/results/compare.json): a roofline of each case's rate against the
machine's measured FMA peak and bandwidth, and the torch/ours ratios per case. Needs matplotlib
(`pip install ".[plot]"`).

    python bench/plot.py                                  # bench/results/compare.json -> bench/results/*.png
    python bench/plot.py --json run.json --out charts/ --threads 2
"""
import argparse
import json
import math
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def _rows(doc, threads):
    return [r for r in doc["results"] if r.get("threads") == threads and r.get("ours_ms") and r.get("work")]


def _intensity(r):
    """Flops per byte of minimal traffic (input, weight and output read or written once, float32) of a
    convolution case, from its table spec; None for other families."""
    s = r.get("spec", {})
    if r["family"] not in ("conv2d", "conv_transpose2d") or not all(k in s for k in "NCHWKRS"):
        return None
    st, pad, dil, g = s.get("stride", 1), s.get("padding", 0), s.get("dilation", 1), s.get("groups", 1)
    if r["family"] == "conv2d":
        P = (s["H"] + 2 * pad - dil * (s["R"] - 1) - 1) // st + 1
        Q = (s["W"] + 2 * pad - dil * (s["S"] - 1) - 1) // st + 1
    else:
        op = s.get("output_padding", 0)
        P = (s["H"] - 1) * st - 2 * pad + dil * (s["R"] - 1) + 1 + op
        Q = (s["W"] - 1) * st - 2 * pad + dil * (s["S"] - 1) + 1 + op
    elems = s["N"] * s["C"] * s["H"] * s["W"] + s["K"] * s["C"] // g * s["R"] * s["S"] + s["N"] * s["K"] * P * Q
    return r["work"] / (4.0 * elems * (3 if r["mode"] == "fwd+bwd" else 1))


def roofline(doc, threads, path):
    """Left: convolutions at their arithmetic intensity against the roof min(FMA peak, intensity x bandwidth).
    Right: memory-bound cases' achieved GB/s against the measured bandwidth."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    peak = doc["meta"]["peak"].get(str(threads), {})
    fma, bw = peak.get("peak_gflops"), peak.get("bandwidth_gbs")
    rows = _rows(doc, threads)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    if fma and bw:
        xs = [2 ** (i / 4) for i in range(-8, 48)]
        left.plot(xs, [min(fma, x * bw) for x in xs], "k-", lw=1, label=f"roof: {fma:.0f} GFLOP/s, {bw:.0f} GB/s")
    for mode, color in (("fwd", "tab:blue"), ("fwd+bwd", "tab:orange")):
        pts = [(_intensity(r), r["ours_rate"]) for r in rows if r["mode"] == mode and r["work_unit"] == "flop"]
        pts = [(x, y) for x, y in pts if x]
        if pts:
            left.scatter(*zip(*pts), color=color, s=18, label=mode)
    left.set_xscale("log", base=2)
    left.set_yscale("log", base=2)
    left.set_xlabel("arithmetic intensity (flop per byte of minimal traffic)")
    left.set_ylabel("GFLOP/s (direct algorithm's flops)")
    left.set_title("convolutions")
    left.legend(fontsize=7)
    mem = [r for r in rows if r["work_unit"] == "byte"]
    labels = [f"{r['family']}/{r['case']} {r['mode']}" for r in mem]
    right.barh(range(len(mem)), [r["ours_rate"] for r in mem], color="tab:green")
    if bw:
        right.axvline(bw, color="k", lw=1, label=f"measured bandwidth {bw:.0f} GB/s")
        right.legend(fontsize=7)
    right.set_yticks(range(len(mem)))
    right.set_yticklabels(labels, fontsize=6)
    right.set_xlabel("GB/s of minimal traffic")
    right.set_title("memory-bound layers")
    fig.suptitle(f"fastlayers, {threads} thread(s), against this machine's measured peaks")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def ratios(doc, threads, path):
    """torch time / fastlayers time for each case and mode (above 1: fastlayers is faster)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in _rows(doc, threads) if r.get("ratio_torch_over_ours")]
    labels = sorted({(r["family"], r["case"]) for r in rows})
    modes = [m for m in ("fwd", "fwd+bwd") if any(r["mode"] == m for r in rows)]
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(labels)), 5))
    width = 0.8 / max(1, len(modes))
    for j, mode in enumerate(modes):
        by = {(r["family"], r["case"]): r["ratio_torch_over_ours"] for r in rows if r["mode"] == mode}
        ax.bar([i + j * width for i in range(len(labels))], [by.get(k, math.nan) for k in labels], width, label=mode)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks([i + width * (len(modes) - 1) / 2 for i in range(len(labels))])
    ax.set_xticklabels([f"{f}/{c}" for f, c in labels], rotation=75, ha="right", fontsize=7)
    ax.set_ylabel("torch time / fastlayers time")
    ax.set_title(f"fastlayers vs PyTorch, {threads} thread(s) (above 1: fastlayers faster)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", default=str(BENCH_DIR / "results" / "compare.json"))
    ap.add_argument("--out", default=str(BENCH_DIR / "results"))
    ap.add_argument("--threads", type=int, help="thread count to plot (default: the largest in the run)")
    args = ap.parse_args(argv)
    doc = json.loads(Path(args.json).read_text())
    threads = args.threads or max(r["threads"] for r in doc["results"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / f"roofline_{threads}t.png", out / f"ratios_{threads}t.png"]
    roofline(doc, threads, written[0])
    ratios(doc, threads, written[1])
    for p in written:
        print(p)
    return written


if __name__ == "__main__":
    main()

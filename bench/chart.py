"""Draw events/s and memory against tasks in state for each server, from bench/run.py's JSON.

Usage: bench/.venv-tools/bin/python bench/chart.py [bench/results/latest.json] [-o bench/results/benchmarks.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
STYLE = {
    "ours": dict(color="tab:blue", label="this server"),
    "flower22": dict(color="tab:orange", label="Flower 2.2.0"),
}


def series(res: dict, get) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for n, s in sorted(res.get("sizes", {}).items(), key=lambda kv: int(kv[0])):
        try:
            y = get(s)
        except (KeyError, TypeError):
            continue
        if y is not None:
            xs.append(int(n))
            ys.append(y)
    return xs, ys


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("json", nargs="?", default=str(HERE / "results" / "latest.json"))
    ap.add_argument("-o", "--output", default=str(HERE / "results" / "benchmarks.png"))
    a = ap.parse_args()
    data = json.loads(Path(a.json).read_text())
    servers = data["servers"]

    fig, (ax_rate, ax_mem) = plt.subplots(1, 2, figsize=(12, 5.6))
    for kind, res in servers.items():
        style = STYLE.get(kind, dict(label=kind))
        for fmt, ls, marker in (("single", "-", "o"), ("multi", "--", "s")):
            xs, ys = series(res, lambda s: s["sustained"][fmt]["rate"])
            if xs:
                ax_rate.plot(
                    xs,
                    ys,
                    ls,
                    marker=marker,
                    color=style.get("color"),
                    label=f"{style['label']}, {'one event per message' if fmt == 'single' else 'task-multi'}",
                )
                # A rate the publisher could not push higher is a lower bound: say so on the point.
                for x, y in zip(xs, ys):
                    if res["sizes"][str(x)]["sustained"][fmt].get("limited_by") == "publisher":
                        ax_rate.annotate(
                            "≥ (publisher-limited)",
                            (x, y),
                            textcoords="offset points",
                            xytext=(4, -12),
                            fontsize=7,
                            color=style.get("color"),
                        )
        xs2, ys2 = series(res, lambda s: s["rss_after_churn_kib"] / 1024)
        if xs2:
            ax_mem.plot(
                xs2, ys2, "--", marker="s", color=style.get("color"), label=f"{style['label']}, RSS, steady state"
            )
        xs, ys = series(res, lambda s: s["rss_filled_kib"] / 1024)
        if xs:
            ax_mem.plot(
                xs, ys, "-", marker="o", color=style.get("color"), label=f"{style['label']}, RSS, N tasks filled in"
            )
            for x, y, s in zip(xs, ys, [res["sizes"][str(x)] for x in xs]):
                ax_mem.annotate(
                    f"{s['rss_per_task_kib']:.2f} KiB/task",
                    (x, y),
                    textcoords="offset points",
                    xytext=(4, 6),
                    fontsize=8,
                    color=style.get("color"),
                )
    ax_rate.set(
        title="Sustained ingestion (server saturated, bounded backlog)",
        xlabel="tasks in state",
        ylabel="task events applied per second",
    )
    ax_mem.set(title="Memory with N tasks retained", xlabel="tasks in state", ylabel="RSS (MiB)")
    for ax in (ax_rate, ax_mem):
        ax.set_ylim(bottom=0)
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1000:.0f}k"))
    ax_rate.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1000:.0f}k"))
    meta = data.get("meta", {})
    m = meta.get("machine", {})
    fig.suptitle(
        f"{meta.get('profile', '')} run {meta.get('started', '')} on {m.get('cpus', '?')} CPUs, "
        f"Python {m.get('python', '?')}",
        fontsize=9,
    )
    fig.tight_layout()
    Path(a.output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.output, dpi=110)
    print(f"wrote {a.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

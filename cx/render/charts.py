"""Offline charts: matplotlib (Agg backend) to inline SVG. Text is drawn as paths, so no user text reaches
the HTML as markup."""
from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update({"svg.fonttype": "path", "svg.hashsalt": "cxlens", "font.size": 9,
                     "axes.spines.top": False, "axes.spines.right": False})
ZONE_COLORS = {"red": "#d9534f", "yellow": "#f0ad4e", "green": "#5cb85c", None: "#999999"}
QUAD_COLORS = {"A": "#d9534f", "B": "#f0ad4e", "C": "#5cb85c", "D": "#7a8ca3", None: "#999999"}


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    s = buf.getvalue()
    s = s[s.find("<svg"):]
    return re.sub(r"<metadata>.*?</metadata>", "", s, flags=re.S)


def matrix_chart(rep: dict, labels: dict) -> str | None:
    mx = rep["matrix"]
    items = [i for i in mx["items"] if i["importance"] is not None and i["performance"] is not None]
    if not items:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    xs = [i["performance"] for i in items]
    ys = [i["importance"] for i in items]
    ax.scatter(xs, ys, s=[60 + 4 * min(i["n"], 100) for i in items],
               c=[QUAD_COLORS[i["quadrant"]] for i in items], alpha=0.85, edgecolors="white", linewidths=1)
    for i in items:
        ax.annotate(("~ " if i["low_n"] else "") + i["name"], (i["performance"], i["importance"]),
                    xytext=(7, 5), textcoords="offset points", fontsize=9)
    cut = mx["cut"]
    if cut["performance"] is not None:
        ax.axvline(cut["performance"], color="#666", ls="--", lw=1)
    if cut["importance"] is not None:
        ax.axhline(cut["importance"], color="#666", ls="--", lw=1)
    lo_x, hi_x = min(xs), max(xs)
    lo_y, hi_y = min(ys), max(ys)
    dx, dy = (hi_x - lo_x) or 1.0, (hi_y - lo_y) or 1.0
    ax.set_xlim(lo_x - 0.2 * dx, hi_x + 0.3 * dx)  # room for the point labels and the quadrant captions
    ax.set_ylim(lo_y - 0.25 * dy, hi_y + 0.25 * dy)
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    pad = 0.02
    for q, (x, y, ha, va) in {"A": (x0, y1, "left", "top"), "B": (x0, y0, "left", "bottom"),
                              "C": (x1, y1, "right", "top"), "D": (x1, y0, "right", "bottom")}.items():
        ax.text(x + (pad if ha == "left" else -pad) * (x1 - x0), y + (-pad if va == "top" else pad) * (y1 - y0),
                f"{q}: {labels['prio']} {'ABCD'.index(q) + 1}", ha=ha, va=va, color=QUAD_COLORS[q],
                fontsize=10, fontweight="bold")
    ax.set_xlabel(labels["performance"])
    ax.set_ylabel(labels["importance"])
    ax.grid(alpha=0.2)
    return _svg(fig)


def companies_chart(rep: dict, labels: dict) -> str | None:
    rows = [r for r in rep["traffic_lights"]["companies"] if r["satisfaction"]["mean"] is not None]
    if not rows:
        return None
    rows = rows[:30][::-1]
    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(rows) + 1.0))
    names = [r["company"] for r in rows]
    vals = [r["satisfaction"]["mean"] for r in rows]
    ax.barh(range(len(rows)), vals, color=[ZONE_COLORS[r["zone"]] for r in rows], height=0.7)
    ax.set_yticks(range(len(rows)), names)
    for k, v in enumerate(vals):
        ax.text(v + 0.05, k, f"{v:.1f}", va="center", fontsize=8)
    tl = rep["traffic_lights"]["thresholds"]
    for x in (tl["yellow_from"], tl["green_from"]):
        ax.axvline(x, color="#666", ls=":", lw=1)
    ax.set_xlim(0, 10.5)
    ax.set_xlabel(labels["satisfaction10"])
    return _svg(fig)


def waves_chart(rep: dict, labels: dict) -> str | None:
    rows = [r for r in rep["trends"]["by_wave"] if r.get("nps", {}).get("value") is not None]
    if len(rows) < 2:
        return None
    fig, ax = plt.subplots(figsize=(5, 3))
    xs = range(len(rows))
    v = [r["nps"]["value"] for r in rows]
    lo = [r["nps"]["value"] - r["nps"]["ci_low"] for r in rows]
    hi = [r["nps"]["ci_high"] - r["nps"]["value"] for r in rows]
    ax.errorbar(xs, v, yerr=[lo, hi], fmt="o-", color="#1f3a5f", capsize=5)
    for x, y in zip(xs, v):
        ax.annotate(f"{y:+.0f}", (x, y), xytext=(8, 0), textcoords="offset points", va="center")
    ax.set_xticks(list(xs), [r["wave"] for r in rows])
    ax.axhline(0, color="#999", lw=0.8)
    ax.set_ylabel("NPS (95% CI)")
    ax.set_xlim(-0.5, len(rows) - 0.5)
    return _svg(fig)


def sw_chart(rep: dict, labels: dict) -> str | None:
    rows = [r for r in rep["touchpoints"] if r["positive"] or r["negative"]][:12]
    if not rows:
        return None
    rows = rows[::-1]
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(rows) + 1.0))
    ys = range(len(rows))
    ax.barh(ys, [-r["negative"] for r in rows], color="#d9534f", label=labels["negative"])
    ax.barh(ys, [r["positive"] for r in rows], color="#5cb85c", label=labels["positive"])
    ax.set_yticks(list(ys), [r["name"] for r in rows])
    ax.axvline(0, color="#333", lw=0.8)
    ax.set_xlabel(labels["mentions"])
    ax.legend(loc="lower right", frameon=False)
    return _svg(fig)

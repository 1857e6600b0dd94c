"""Figures for the app: confusion matrix, per-class accuracy, confidence, reliability; the training curves are
the model card's (core.report.curves_figure).

Every function takes plain numbers (lists, dicts from core.evaluate) and returns a matplotlib Figure for
``gr.Plot``. Figures are built with ``matplotlib.figure.Figure`` rather than pyplot, so a long-running server
keeps no global figure registry that grows with every request.

A picture a visitor clicks on (the confusion matrix, the Inside tab's overview) is shown as a gr.Image, whose
select event gives the clicked pixel: ``rendered`` draws a figure to pixels, ``grid_geometry`` says where its grid
of cells lies in them, and ``cell_at`` turns a click into (row, column).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display on a server or in CI

import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from core.report import TRAIN_COLOUR, curves_figure  # noqa: E402, F401 (curves_figure: the model card's, shown here too)

RIGHT, WRONG = "#2a9d5c", "#d1495b"  # green for right, red for wrong: the same in every figure


def _figure(width: float, height: float, dpi: int = 100) -> Figure:
    fig = Figure(figsize=(width, height), dpi=dpi)
    fig.set_layout_engine("constrained")
    return fig


def confusion_figure(counts: list[list[int]] | np.ndarray, names: list[str], title: str = "Confusion matrix",
                     highlight: tuple[int, int] | None = None, unit: str = "class") -> Figure:
    """A row-normalised confusion matrix people can read: rows are true classes, columns predictions, each
    row sums to 100%. The diagonal is outlined; cells are labelled with their share when there is room.

    counts: (C, C) image counts, row = true, column = predicted. highlight: a (true, predicted) cell to outline.
    unit: what the rows are ("class" or "group"), for the axis labels.
    """
    counts = np.asarray(counts, dtype=np.float64)
    c = len(names)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    side = min(12.0, max(4.5, 0.42 * c + 2.0))
    fig = _figure(side + 1.0, side)
    ax = fig.add_subplot()
    # a square root colour scale keeps small confusions visible next to a bright diagonal
    image = ax.imshow(np.sqrt(share), cmap="Blues", vmin=0, vmax=1)
    font = 9 if c <= 12 else (7 if c <= 25 else (6 if c <= 60 else 5))
    ax.set_xticks(range(c), names, rotation=60, ha="right", fontsize=font)
    ax.set_yticks(range(c), [f"{n} ({int(r)})" for n, r in zip(names, rows[:, 0], strict=True)], fontsize=font)
    ax.set_xlabel(f"predicted {unit}")
    ax.set_ylabel(f"true {unit} (number of images)", labelpad=2)
    ax.set_title(title)
    for i in range(c):  # outline the diagonal: where the right answers are
        ax.add_patch(Rectangle((i - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="#222222", linewidth=1.2))
    if highlight is not None:
        t, p = highlight
        ax.add_patch(Rectangle((p - 0.5, t - 0.5), 1, 1, fill=False, edgecolor=WRONG, linewidth=2.5))
    if c <= 20:
        for i in range(c):
            for j in range(c):
                if counts[i, j] > 0:
                    ax.text(j, i, f"{100 * share[i, j]:.0f}", ha="center", va="center", fontsize=font - 1,
                            color="white" if share[i, j] > 0.45 else "#222222")
    bar = fig.colorbar(image, ax=ax, shrink=0.9)
    ticks = np.array([0, 0.05, 0.2, 0.5, 1.0])
    bar.set_ticks(np.sqrt(ticks), labels=[f"{100 * t:.0f}%" for t in ticks])
    bar.set_label(f"share of the true {unit} (each row sums to 100%)")
    return fig


def confusion_picture(counts: list[list[int]] | np.ndarray, names: list[str], title: str = "Confusion matrix",
                      highlight: tuple[int, int] | None = None, unit: str = "class") -> tuple[np.ndarray, dict]:
    """``confusion_figure`` drawn to pixels, for a clickable gr.Image: ((H, W, 3) uint8, its grid_geometry)."""
    fig = confusion_figure(counts, names, title, highlight, unit)
    image = rendered(fig)
    return image, grid_geometry(fig, fig.axes[0], len(names), len(names))


# ---------------------------------------------------------------------------------------------------------------
# Clickable pictures


def rendered(fig: Figure) -> np.ndarray:
    """The figure drawn at its own size and dpi: (H, W, 3) uint8. Afterwards its transforms give pixel positions."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def grid_geometry(fig: Figure, ax, rows: int, cols: int) -> dict:
    """Where the (rows, cols) cells that ``ax.imshow`` drew lie in ``rendered(fig)``'s pixels (call it after
    ``rendered``): {"left", "top", "width", "height"} in pixels from the picture's top-left corner, "rows", "cols".
    Row 0 is at the top, as imshow draws it."""
    corners = ax.transData.transform([(-0.5, -0.5), (cols - 0.5, rows - 0.5)])
    (x0, y0), (x1, y1) = corners
    # display coordinates count up from the bottom of the figure, picture rows down from its top
    picture_height = fig.bbox.height
    return {"left": float(min(x0, x1)), "top": float(picture_height - max(y0, y1)), "width": float(abs(x1 - x0)),
            "height": float(abs(y1 - y0)), "rows": int(rows), "cols": int(cols)}


def cell_at(x: float, y: float, geometry: dict | None) -> tuple[int, int] | None:
    """The (row, column) of the grid cell under the pixel (x, y) of a picture (x to the right, y down from the
    top-left corner, as gr.SelectData.index gives a click on a gr.Image); None outside the grid or without one.

    geometry: {"left", "top", "width", "height", "rows", "cols"} (``grid_geometry``)."""
    if not geometry or geometry.get("width", 0) <= 0 or geometry.get("height", 0) <= 0:
        return None
    u = (float(x) - geometry["left"]) / geometry["width"]
    v = (float(y) - geometry["top"]) / geometry["height"]
    if not (0 <= u < 1 and 0 <= v < 1):
        return None
    return min(int(v * geometry["rows"]), geometry["rows"] - 1), min(int(u * geometry["cols"]), geometry["cols"] - 1)


# ---------------------------------------------------------------------------------------------------------------
# Other figures


def per_class_figure(per_class: dict[str, float], counts: dict[str, int] | None = None,
                     title: str = "Accuracy per class, worst first") -> Figure:
    """Horizontal bars of each class's accuracy, worst at the top. Classes with no images are left out."""
    items = [(name, acc) for name, acc in per_class.items() if not counts or counts.get(name, 0) > 0]
    items.sort(key=lambda kv: (kv[1], kv[0]))
    names = [n for n, _ in items]
    values = np.array([100 * a for _, a in items])
    fig = _figure(6.5, min(14.0, max(2.5, 0.26 * len(items) + 1.0)))
    ax = fig.add_subplot()
    y = np.arange(len(items))
    mean = values.mean() if len(values) else 0.0
    ax.barh(y, values, color=[WRONG if v < mean else RIGHT for v in values])
    ax.set_yticks(y, names, fontsize=9 if len(items) <= 20 else 6)
    ax.invert_yaxis()  # worst first, at the top
    ax.axvline(mean, color="#444444", linestyle="--", linewidth=1, label=f"mean {mean:.1f}%")
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy (%)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return fig


def confidence_figure(hist: dict) -> Figure:
    """Histogram of the top probability, right vs wrong predictions (``core.evaluate.confidence_histogram``)."""
    edges = np.asarray(hist["edges"])
    width = np.diff(edges)
    fig = _figure(6.0, 3.2)
    ax = fig.add_subplot()
    ax.bar(edges[:-1], hist["right"], width=width, align="edge", color=RIGHT, alpha=0.75,
           label=f"right ({sum(hist['right'])})")
    ax.bar(edges[:-1], hist["wrong"], width=width, align="edge", color=WRONG, alpha=0.75,
           label=f"wrong ({sum(hist['wrong'])})")
    ax.set_xlim(0, 1)
    ax.set_xlabel("confidence: probability of the top class")
    ax.set_ylabel("images")
    ax.set_title("How sure is the model when it is right, and when it is wrong?")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def reliability_figure(before: list[dict], after: list[dict], ece_before: float, ece_after: float,
                       temperature: float) -> Figure:
    """Reliability diagrams before and after temperature scaling: per confidence bin, the accuracy against
    the confidence; a calibrated model sits on the diagonal. Bins are ``core.evaluate.reliability_bins`` rows."""
    fig = _figure(9.0, 4.0)
    fig.suptitle("Reliability diagram: is a 70% sure guess right 70% of the time?")
    for k, (rows, title) in enumerate(((before, f"as trained: ECE {ece_before:.3f}"),
                                       (after, f"temperature T={temperature:.2f}: ECE {ece_after:.3f}"))):
        ax = fig.add_subplot(1, 2, k + 1)
        filled = [r for r in rows if r["count"]]
        lo = np.array([r["lo"] for r in filled])
        width = np.array([r["hi"] - r["lo"] for r in filled])
        acc = np.array([r["accuracy"] for r in filled])
        conf = np.array([r["confidence"] for r in filled])
        ax.bar(lo, acc, width=width, align="edge", color=TRAIN_COLOUR, edgecolor="white", label="accuracy")
        ax.bar(lo, conf - acc, bottom=acc, width=width, align="edge", color=WRONG, alpha=0.35,
               label="gap to confidence")
        ax.plot([0, 1], [0, 1], "--", color="#444444", linewidth=1, label="perfect calibration")
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", title=title)
        if k == 0:
            ax.set_ylabel("accuracy")
            ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
    return fig


def compare_figure(rows: list[dict], name_a: str, name_b: str) -> Figure:
    """Per-class accuracy difference (b - a) as bars (``core.evaluate.compare_predictions`` rows)."""
    fig = _figure(6.5, min(14.0, max(2.5, 0.26 * len(rows) + 1.0)))
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    diff = np.array([100 * r["diff"] for r in rows])
    ax.barh(y, diff, color=[RIGHT if d > 0 else WRONG for d in diff])
    ax.set_yticks(y, [r["class"] for r in rows], fontsize=9 if len(rows) <= 20 else 6)
    ax.invert_yaxis()
    ax.axvline(0, color="#444444", linewidth=1)
    ax.set_xlabel(f"accuracy of {name_b} minus {name_a} (points)")
    ax.set_title(f"Accuracy per class: {name_b} minus {name_a}")
    ax.grid(axis="x", alpha=0.3)
    return fig

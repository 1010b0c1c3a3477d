"""Pictures of a table's row counts: the history, the band the detector expected and the
anomalies. One drawing serves the backtest's --plot file and the PNG inside a failed check."""

from __future__ import annotations

import base64
import io

import pandas as pd


def band_png(
    history: pd.Series, scores: pd.DataFrame, title: str, size: tuple[float, float] = (12, 4.5), dpi: int = 100
) -> bytes:
    """History (line), expected band (shaded, where scored) and flagged buckets (red), as PNG.
    Drawn on a bare Agg Figure, not through pyplot: no global figure state to leak inside a
    long-lived run worker, and half a second less to import."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.fill_between(
        scores.index, scores["lower"], scores["upper"], color="#9ecae1", alpha=0.6, linewidth=0, label="expected band"
    )
    ax.plot(history.index, history.to_numpy(), color="#08306b", linewidth=0.8, label="row count")
    flagged = scores.index[scores["is_anomaly"].to_numpy(dtype=bool)]
    ax.scatter(flagged, history[flagged], color="#e31a1c", s=18, zorder=3, label="anomaly")
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("rows per bucket")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.subplots_adjust(left=0.1, right=0.98, top=0.9, bottom=0.22)  # fixed: tight_layout draws twice
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown that shows the PNG inline (the Dagster UI renders data: URIs in markdown)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"

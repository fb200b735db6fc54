#!/usr/bin/env python3
"""test/bench/stream_plot.py: the SVG plot of stream_bench.sh.

    stream_plot.py [--title T] [--subtitle S] [--fresh-recall R] [--fresh-bytes B]
                   [--fresh-p99 MS] [--vacuums S,S,...] CSV SVG

Reads the samples stream_bench.sh wrote to CSV (label, elapsed_s, ...,
recall, index_bytes, ..., p50_ms, p99_ms; "-" where a value is missing)
and draws three panels over the elapsed time: recall@10, index size and
the query clients' p50 and p99 latency per interval.  The fresh build's
recall, size and p99 (with no writes) are dashed lines, the targets of
issue 16 (recall no more than 0.01 below the fresh build's, p99 no more
than twice its) dotted ones, and the ends of the VACUUMs (seconds) thin
grey lines.  Only the standard library: the machines have no plotting
package.
"""
import argparse
import csv
import math
from xml.sax.saxutils import escape

WIDTH = 960
PANEL_HEIGHT = 220
TOP = 70            # title and subtitle
GAP = 50            # between panels: the x-axis labels
LEFT = 80
RIGHT = 230         # the legend
STREAM = "#1f77b4"  # the streamed index
LIGHT = "#9ecae1"   # its p50
FRESH = "#ff7f0e"   # the fresh build
VACUUM = "#bbbbbb"


def number(text):
    """The CSV field as a float, or None when it is missing ("-")."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def nice_ticks(lo, hi, count=5):
    """Round tick values covering [lo, hi], about count of them."""
    if hi <= lo:
        hi = lo + (abs(lo) or 1) * 0.01
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    t = first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks, step


def label(value, step):
    """A tick label with as many decimals as the step needs."""
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:.{decimals}f}"


class Panel:
    """One plot area: maps data to pixels and collects SVG elements."""

    def __init__(self, out, top, title, xticks, xmax, ylo, yhi):
        self.out = out
        self.top = top
        self.left = LEFT
        self.width = WIDTH - LEFT - RIGHT
        self.height = PANEL_HEIGHT
        self.xmax = xmax
        self.yticks, self.ystep = nice_ticks(ylo, yhi)
        self.ylo, self.yhi = self.yticks[0], self.yticks[-1]
        self.legend = []
        out.append(f'<text x="{LEFT}" y="{top - 8}" font-weight="bold">{escape(title)}</text>')
        out.append(f'<rect x="{LEFT}" y="{top}" width="{self.width}" height="{self.height}" '
                   'fill="none" stroke="#333"/>')
        for y in self.yticks:
            py = self.y(y)
            out.append(f'<line x1="{LEFT}" x2="{LEFT + self.width}" y1="{py:.1f}" y2="{py:.1f}" stroke="#eee"/>')
            out.append(f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">{label(y, self.ystep)}</text>')
        ticks, step, unit, scale = xticks
        for t in ticks:
            px = self.x(t * scale)
            out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{top + self.height}" '
                       f'y2="{top + self.height + 4}" stroke="#333"/>')
            out.append(f'<text x="{px:.1f}" y="{top + self.height + 17}" text-anchor="middle">'
                       f'{label(t, step)}</text>')
        out.append(f'<text x="{LEFT + self.width / 2}" y="{top + self.height + 33}" '
                   f'text-anchor="middle">elapsed ({unit})</text>')

    def x(self, seconds):
        return self.left + self.width * seconds / self.xmax

    def y(self, value):
        return self.top + self.height * (1 - (value - self.ylo) / (self.yhi - self.ylo))

    def series(self, points, colour, name, marker=True):
        """A line through the points (seconds, value) that have a value."""
        points = [(t, v) for t, v in points if t is not None and v is not None]
        if not points:
            return
        path = " ".join(f"{self.x(t):.1f},{self.y(v):.1f}" for t, v in points)
        self.out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if marker:
            for t, v in points:
                self.out.append(f'<circle cx="{self.x(t):.1f}" cy="{self.y(v):.1f}" r="2.5" fill="{colour}"/>')
        self.legend.append((colour, "", name))

    def level(self, value, colour, dash, name):
        """A horizontal line across the panel at value."""
        if value is None:
            return
        py = self.y(value)
        self.out.append(f'<line x1="{self.left}" x2="{self.left + self.width}" y1="{py:.1f}" y2="{py:.1f}" '
                        f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="{dash}"/>')
        self.legend.append((colour, dash, name))

    def marks(self, times, name):
        """Thin vertical lines at the given seconds."""
        for t in times:
            px = self.x(t)
            self.out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{self.top}" y2="{self.top + self.height}" '
                            f'stroke="{VACUUM}" stroke-width="1"/>')
        if times:
            self.legend.append((VACUUM, "", name))

    def draw_legend(self):
        x = self.left + self.width + 15
        for i, (colour, dash, name) in enumerate(self.legend):
            y = self.top + 12 + 18 * i
            self.out.append(f'<line x1="{x}" x2="{x + 24}" y1="{y}" y2="{y}" stroke="{colour}" '
                            f'stroke-width="2" stroke-dasharray="{dash}"/>')
            self.out.append(f'<text x="{x + 30}" y="{y + 4}">{escape(name)}</text>')


def span(values, extra=()):
    """The lowest and highest of the values and extras that are there."""
    present = [v for v in list(values) + list(extra) if v is not None]
    if not present:
        return 0.0, 1.0
    return min(present), max(present)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--title", default="stream_bench.sh")
    parser.add_argument("--subtitle", default="")
    parser.add_argument("--fresh-recall")
    parser.add_argument("--fresh-bytes")
    parser.add_argument("--fresh-p99")
    parser.add_argument("--vacuums", default="")
    parser.add_argument("csv")
    parser.add_argument("svg")
    args = parser.parse_args()

    with open(args.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    times = [number(r["elapsed_s"]) for r in rows]
    recall = [number(r["recall"]) for r in rows]
    size = [None if number(r["index_bytes"]) is None else number(r["index_bytes"]) / 1048576 for r in rows]
    p50 = [number(r["p50_ms"]) for r in rows]
    p99 = [number(r["p99_ms"]) for r in rows]
    fresh_recall = number(args.fresh_recall)
    fresh_mb = None if number(args.fresh_bytes) is None else number(args.fresh_bytes) / 1048576
    fresh_p99 = number(args.fresh_p99)
    vacuums = [v for v in (number(s) for s in args.vacuums.split(",")) if v is not None]

    end = max([t for t in times if t is not None] + vacuums + [1])
    unit, scale = ("min", 60) if end >= 600 else ("s", 1)
    ticks, step = nice_ticks(0, end / scale, 8)
    xmax = ticks[-1] * scale
    xticks = (ticks, step, unit, scale)

    out = []
    top = TOP
    lo, hi = span(recall, [fresh_recall, None if fresh_recall is None else fresh_recall - 0.01])
    panel = Panel(out, top, "recall@10", xticks, xmax, lo - 0.002, min(1.0, hi + 0.002) if hi <= 1 else hi)
    panel.marks(vacuums, "VACUUM ends")
    panel.series(zip(times, recall), STREAM, "streamed index")
    panel.level(fresh_recall, FRESH, "6,4", "fresh build")
    if fresh_recall is not None:
        panel.level(fresh_recall - 0.01, FRESH, "2,3", "fresh - 0.01 (target)")
    panel.draw_legend()

    top += PANEL_HEIGHT + GAP
    lo, hi = span(size, [fresh_mb])
    panel = Panel(out, top, "index size (MB)", xticks, xmax, 0 if lo < hi * 0.5 else lo * 0.98, hi * 1.02)
    panel.marks(vacuums, "VACUUM ends")
    panel.series(zip(times, size), STREAM, "streamed index")
    panel.level(fresh_mb, FRESH, "6,4", "fresh build")
    panel.draw_legend()

    top += PANEL_HEIGHT + GAP
    lo, hi = span(p50 + p99, [fresh_p99, None if fresh_p99 is None else 2 * fresh_p99])
    panel = Panel(out, top, "query latency per interval (ms)", xticks, xmax, 0, hi * 1.05)
    panel.marks(vacuums, "VACUUM ends")
    panel.series(zip(times, p99), STREAM, "p99, streamed index")
    panel.series(zip(times, p50), LIGHT, "p50, streamed index")
    panel.level(fresh_p99, FRESH, "6,4", "p99, fresh, no writes")
    if fresh_p99 is not None:
        panel.level(2 * fresh_p99, FRESH, "2,3", "2x that (target)")
    panel.draw_legend()

    height = top + PANEL_HEIGHT + GAP
    with open(args.svg, "w") as f:
        f.write(f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
                f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">\n')
        f.write(f'<rect width="{WIDTH}" height="{height}" fill="white"/>\n')
        f.write(f'<text x="{LEFT}" y="22" font-size="14" font-weight="bold">{escape(args.title)}</text>\n')
        f.write(f'<text x="{LEFT}" y="40">{escape(args.subtitle)}</text>\n')
        f.write("\n".join(out))
        f.write("\n</svg>\n")


if __name__ == "__main__":
    main()

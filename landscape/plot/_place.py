"""Where text goes on a 2D plot so that it covers neither other text nor the training path.

A contour plot carries three kinds of text: the value of the marked minimum, epoch numbers along
the optimizer's path, and contour labels. Matplotlib places each without knowing of the others
(contour labels land on the path, the 'min' box covers contour labels, epochs 1 and 2 of a fast
first step print on top of each other). Here they are placed one after the other, most important
first, each avoiding everything placed before it:

1. the path itself (line and markers) and the minimum's star,
2. the minimum's value, next to the star,
3. epoch labels (first and last always, others only where they fit),
4. contour labels, on a straight stretch of their line away from all of the above.

Geometry is worked out in display points (1/72 inch) with text sizes from the font metrics,
before the figure is laid out; a constrained layout then shrinks the axes a little, which the
MARGIN absorbs.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath

MARGIN = 2.5  # points of free space required between a label and anything else
GAP = 3.5  # points between an annotated point and its label's box
# further rings of candidate spots (points beyond the first) for a label that must be placed: a
# minimum inside a converging path finds no free side next to it, but one a little further out
RINGS = (0.0, 6.0, 14.0, 26.0)
LEADER = 10.0  # a label this far (points) from its point or further gets a thin line to it
FRAME_PAD = 4.0  # points between a contour label and the axes frame (a label on the frame looks cut)
MAX_PER_LEVEL = 2  # contour labels per level (a chaotic surface has many small rings per level)
MIN_LABELS = 2  # below this many, labels may sit on crossing lines (on a white box)
# preferred sides of a point for its label: right/left first (text is wide), then above/below
_SIDES = ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))

_TEXT_TO_PATH = TextToPath()


def text_size(text: str, fontsize, pad: float = 0.0) -> Tuple[float, float]:
    """(width, height) in points of ``text`` at ``fontsize`` (points or 'x-small'), plus ``pad``
    points on every side (a bbox's pad)."""
    prop = FontProperties(size=fontsize)
    w, _h, _d = _TEXT_TO_PATH.get_text_width_height_descent(text, prop, ismath="$" in text)
    return float(w) + 2 * pad, 1.2 * prop.get_size_in_points() + 2 * pad


def _box_points(center, w: float, h: float, angle: float = 0.0, step: float = 3.0) -> np.ndarray:
    """Points on the outline and the middle of a (rotated) box, as obstacles for later labels."""
    nx, ny = max(2, int(w / step) + 1), max(2, int(h / step) + 1)
    xs, ys = np.linspace(-w / 2, w / 2, nx), np.linspace(-h / 2, h / 2, ny)
    pts = np.concatenate([np.stack([xs, np.full(nx, -h / 2)], 1), np.stack([xs, np.full(nx, h / 2)], 1),
                          np.stack([np.full(ny, -w / 2), ys], 1), np.stack([np.full(ny, w / 2), ys], 1),
                          np.stack([xs, np.zeros(nx)], 1)])
    c, s = np.cos(angle), np.sin(angle)
    return pts @ np.array([[c, s], [-s, c]]) + np.asarray(center, dtype=float)


def box_distance(points: np.ndarray, center, w: float, h: float, angle: float = 0.0) -> float:
    """Distance in points from a w x h box at ``center``, rotated by ``angle`` radians, to the
    nearest of ``points`` (n, 2): -1 when one lies inside the box, inf when there are none."""
    if len(points) == 0:
        return np.inf
    c, s = np.cos(angle), np.sin(angle)
    local = (points - np.asarray(center, dtype=float)) @ np.array([[c, -s], [s, c]])
    dx = np.maximum(np.abs(local[:, 0]) - w / 2, 0.0)
    dy = np.maximum(np.abs(local[:, 1]) - h / 2, 0.0)
    if np.any((dx == 0) & (dy == 0)):
        return -1.0
    return float(np.hypot(dx, dy).min())


class Obstacles:
    """Things a label must keep clear of on one 2D axes, as a cloud of points in display points.

    Points from data coordinates are taken through the axes' current transform (so add them
    after the axis limits are final).
    """

    def __init__(self, ax: Axes):
        self.ax = ax
        self.points = np.zeros((0, 2))
        self.boxes: List[np.ndarray] = []  # (4, 2) corners of every placed label, for tests/debugging

    def to_points(self, xy) -> np.ndarray:
        """Data coordinates (n, 2) -> display points (n, 2)."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        return self.ax.transData.transform(xy) * 72.0 / self.ax.figure.dpi

    def to_data(self, pts) -> np.ndarray:
        """Display points (n, 2) -> data coordinates (n, 2)."""
        pts = np.asarray(pts, dtype=float).reshape(-1, 2)
        return self.ax.transData.inverted().transform(pts * self.ax.figure.dpi / 72.0)

    def axes_box(self) -> np.ndarray:
        """[[x0, y0], [x1, y1]] of the axes in display points."""
        return self.ax.get_window_extent().get_points() * 72.0 / self.ax.figure.dpi

    def add_path(self, xy, radius: float = 0.0, step: float = 2.0) -> None:
        """A polyline in data coordinates (the training path), sampled every ``step`` points;
        ``radius`` widens it (markers, line width)."""
        pts = self.to_points(xy)
        pts = pts[np.all(np.isfinite(pts), axis=1)]
        if len(pts) == 0:
            return
        dense = [pts[:1]]
        for a, b in zip(pts[:-1], pts[1:]):
            n = max(1, int(np.ceil(np.linalg.norm(b - a) / step)))
            dense.append(a + (b - a) * (np.arange(1, n + 1)[:, None] / n))
        self._add(np.concatenate(dense), radius)

    def add_marker(self, xy, radius: float) -> None:
        """A marker of ``radius`` points at data coordinates ``xy``."""
        self._add(self.to_points(xy), radius)

    def add_box(self, center, w: float, h: float, angle: float = 0.0) -> None:
        """A placed label: center in display points, size in points, rotation in radians."""
        self.points = np.concatenate([self.points, _box_points(center, w, h, angle)])
        c, s = np.cos(angle), np.sin(angle)
        corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
        self.boxes.append(corners @ np.array([[c, s], [-s, c]]) + np.asarray(center, dtype=float))

    def _add(self, pts: np.ndarray, radius: float) -> None:
        if radius > 0:  # a disc as its centre plus a ring, so box-to-point distances stay honest
            ang = np.linspace(0, 2 * np.pi, 8, endpoint=False)
            ring = (pts[:, None, :] + radius * np.stack([np.cos(ang), np.sin(ang)], 1)[None]).reshape(-1, 2)
            pts = np.concatenate([pts, ring])
        self.points = np.concatenate([self.points, pts])

    def clearance(self, center, w: float, h: float, angle: float = 0.0) -> float:
        """Distance in points from a box (center, size, rotation) to the nearest obstacle
        (-1 when one lies under the box)."""
        return box_distance(self.points, center, w, h, angle)

    def inside_axes(self, center, w: float, h: float, angle: float = 0.0, pad: float = 1.0) -> bool:
        """Whether the whole box lies inside the axes (``pad`` points from the frame)."""
        c, s = np.cos(angle), np.sin(angle)
        corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2 @ np.array([[c, s], [-s, c]])
        corners = corners + np.asarray(center, dtype=float)
        (x0, y0), (x1, y1) = self.axes_box()
        return bool(np.all(corners[:, 0] >= x0 + pad) and np.all(corners[:, 0] <= x1 - pad)
                    and np.all(corners[:, 1] >= y0 + pad) and np.all(corners[:, 1] <= y1 - pad))


def place_near(obstacles: Obstacles, xy, w: float, h: float, gap: float = GAP,
               force: bool = False) -> Optional[Tuple[float, float]]:
    """Offset in points (from data point ``xy`` to the centre of a w x h label) on the first side
    of the point (see _SIDES), nearest ring first (see RINGS; only the two nearest unless
    ``force``), where the label stays inside the axes and MARGIN away from every obstacle; None if
    there is none, unless ``force``: then the spot with the most room.

    The chosen box is added to ``obstacles``."""
    anchor = obstacles.to_points(xy)[0]
    best, best_room = None, -np.inf
    for ring in (gap + r for r in (RINGS if force else RINGS[:2])):
        for sx, sy in _SIDES:
            offset = np.array([sx * (ring + w / 2), sy * (ring + h / 2)])
            center = anchor + offset
            if not obstacles.inside_axes(center, w, h):
                continue
            room = obstacles.clearance(center, w, h)
            if room >= MARGIN and leader(offset, w, h) is not None:
                room = min(room, _leader_clearance(obstacles, anchor, offset, w, h, gap))
            if room >= MARGIN:
                obstacles.add_box(center, w, h)
                return float(offset[0]), float(offset[1])
            if room > best_room:
                best, best_room = offset, room
    if not force:
        return None
    if best is None:  # no side fits inside the axes (a point in a corner of a tiny plot)
        best = np.array([w / 2 + gap, h / 2 + gap])
    obstacles.add_box(anchor + best, w, h)
    return float(best[0]), float(best[1])


def _leader_clearance(obstacles: Obstacles, anchor: np.ndarray, offset: np.ndarray, w: float, h: float,
                      gap: float) -> float:
    """Distance in points from the leader line of a label at ``offset`` (from the point's marker,
    ``gap`` out, to the label's box) to the nearest obstacle: a line across the path or another
    marker would point at the wrong thing."""
    t = np.linspace(0.0, 1.0, 25)[:, None]
    seg = anchor + t * offset
    rel = seg - anchor - offset  # relative to the box centre
    outside = (np.abs(rel[:, 0]) > w / 2) | (np.abs(rel[:, 1]) > h / 2)
    seg = seg[outside & (np.linalg.norm(seg - anchor, axis=1) > gap)]
    if len(seg) == 0 or len(obstacles.points) == 0:
        return np.inf
    d = np.linalg.norm(obstacles.points[None, :, :] - seg[:, None, :], axis=2)
    return float(d.min())


def leader(offset, w: float, h: float, color="0.25") -> Optional[dict]:
    """``arrowprops`` for a label placed ``offset`` points from its point: a thin line from the
    label's edge to the point when the label sits LEADER points or more away, else None."""
    gap = max(abs(offset[0]) - w / 2, abs(offset[1]) - h / 2)
    if gap < LEADER:
        return None
    return dict(arrowstyle="-", color=color, linewidth=0.6, shrinkA=0.0, shrinkB=4.0)


def _resample(pts: np.ndarray, step: float) -> Tuple[np.ndarray, np.ndarray, float]:
    """Points every ``step`` along a polyline, their arc lengths and the total length."""
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    s = np.arange(0.0, arc[-1], step)
    return np.stack([np.interp(s, arc, pts[:, 0]), np.interp(s, arc, pts[:, 1])], 1), s, float(arc[-1])


def _label_spot(obstacles: Obstacles, line: np.ndarray, closed: bool, w: float, h: float,
                others: np.ndarray, max_bend: Optional[float] = None):
    """The best spot for a w x h label on one contour line (display points): inside the axes,
    MARGIN clear of obstacles, crossed by no other contour line (``others``: their points), on a
    straight stretch; the most clearance (up to 4 label heights) wins, then the straightest and
    most level.
    ``max_bend``: how far (points) the line may stray from the label's baseline (default h/2).
    Returns (center, angle in radians) or None."""
    max_bend = 0.5 * h if max_bend is None else max_bend
    if closed and not np.allclose(line[0], line[-1]):
        line = np.concatenate([line, line[:1]])
    pts, s, total = _resample(line, 2.0)
    if total < 3 * w:  # a line (or ring) too short to carry its label readably
        return None
    half = w / 2 + 1.0

    def at(arc: float) -> np.ndarray:
        if closed:
            arc = arc % total
        return np.array([np.interp(arc, s, pts[:, 0]), np.interp(arc, s, pts[:, 1])])

    best, best_score = None, -np.inf
    for i in range(0, len(pts), 2):
        if not closed and (s[i] < half or s[i] > total - half):
            continue
        d = np.abs(s - s[i])
        if closed:
            d = np.minimum(d, total - d)
        a, b = at(s[i] - half), at(s[i] + half)
        chord = b - a
        if np.linalg.norm(chord) < 0.8 * w:  # the line turns within the label's width
            continue
        normal = np.array([-chord[1], chord[0]]) / np.linalg.norm(chord)
        bend = float(np.abs((pts[d <= half] - a) @ normal).max())
        if bend > max_bend:
            continue
        angle = float(np.arctan2(chord[1], chord[0]))
        if angle > np.pi / 2:  # text reads left to right
            angle -= np.pi
        elif angle < -np.pi / 2:
            angle += np.pi
        center = pts[i]
        if not obstacles.inside_axes(center, w, h, angle, pad=FRAME_PAD):
            continue
        room = obstacles.clearance(center, w, h, angle)
        if room < MARGIN or box_distance(others, center, w, h, angle) < 0.5:
            continue
        # room first (up to a point), then straight and level: upright text is read sideways
        score = min(room, 4 * h) - 0.5 * bend - h * abs(np.sin(angle))
        if score > best_score:
            best, best_score = (center, angle), score
    return best


def contour_labels(ax: Axes, cs, levels: Sequence[float], fmt: Callable[[float], str],
                   obstacles: Obstacles, fontsize="x-small") -> list:
    """Label the contour lines of ``cs`` at ``levels`` (values from ``cs.levels``), at most
    MAX_PER_LEVEL per level (the longest lines first), each on a straight stretch clear of
    ``obstacles``, of the labels placed before it and of the other contour lines; a line with no
    such stretch goes unlabelled. The contour line is cut under each label (matplotlib's inline
    labels).

    A rough surface may leave no such stretch anywhere; then up to MIN_LABELS labels go where
    only ``obstacles`` are avoided, on a white box that hides the lines crossing them.
    Returns the label Text artists.
    """
    all_levels = list(cs.levels)
    spots, used, boxed = [], [], []
    paths = cs.get_paths()
    lines_of: list = []  # per level: [(length, display points, closed)]
    for path in paths:
        lines = []
        for poly in path.to_polygons(closed_only=False):
            if len(poly) < 2:
                continue
            pts = obstacles.to_points(poly)
            closed = len(poly) > 2 and bool(np.allclose(poly[0], poly[-1]))
            lines.append((float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum()), pts, closed))
        lines_of.append(lines)
    dense = [np.concatenate([_resample(p, 2.0)[0] for _l, p, _c in lines if _l > 0] or [np.zeros((0, 2))])
             for lines in lines_of]
    none = np.zeros((0, 2))

    def label(level, relaxed: bool) -> None:
        idx = all_levels.index(level)
        if idx >= len(paths):
            return
        w, h = text_size(fmt(level), fontsize, pad=1.0)
        others = none if relaxed else np.concatenate([d for j, d in enumerate(dense) if j != idx] or [none])
        n = 0
        for _length, pts, closed in sorted(lines_of[idx], key=lambda t: -t[0]):
            spot = _label_spot(obstacles, pts, closed, w, h, others, max_bend=h if relaxed else 0.5 * h)
            if spot is None:
                continue
            center, angle = spot
            obstacles.add_box(center, w, h, angle)
            spots.append(obstacles.to_data(center)[0])
            used.append(level)
            boxed.append(relaxed)
            n += 1
            if n >= (1 if relaxed else MAX_PER_LEVEL):
                return

    for level in levels:
        label(level, relaxed=False)
    if len(spots) < MIN_LABELS:
        for level in levels:
            if level not in used and len(spots) < MIN_LABELS:
                label(level, relaxed=True)
    if not spots:
        return []
    texts = list(ax.clabel(cs, sorted(set(used)), inline=True, fontsize=fontsize, fmt=fmt,
                           manual=[tuple(p) for p in spots]))
    for text, box in zip(texts, boxed):  # clabel adds the labels in the order of `manual`
        if box:
            text.set_bbox(dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.8))
    return texts

"""Access to green space: the patches large enough to count as a park, and the
distance from each home to the nearest one, straight or along a road network.

Patches are 8-connected regions of the class map, found over the whole raster
strip by strip (zonal.StripPatches), so a city-sized mosaic stays in bounded
memory; only the outlines of the large patches are kept. Distances use a spatial
index (an STR-tree of the patch outlines), never a loop over every pair.
"""
from __future__ import annotations

import heapq
import math
import warnings

import numpy as np

from ..errors import Cancelled
from ..feedback import Feedback, SILENT
from .zonal import GREEN, rows_per_strip, strip_regions, StripPatches

# Road vertices closer than this join (metres); roads meet where they share a vertex.
NODE_TOLERANCE_M = 0.5
# Long road segments are split so a home connects to the road near it, not to a far
# vertex.
NODE_SPACING_M = 10.0
# A road node this close to a park counts as a way in.
PARK_ENTRY_M = 25.0


def _strips(src, strip_rows, wanted=None):
    """(green mask, transform) of each strip of rows; None for strips not wanted
    (not read)."""
    from rasterio.windows import Window
    for i, top in enumerate(range(0, src.height, strip_rows)):
        if wanted is not None and not wanted(i):
            yield None, None
            continue
        win = Window(0, top, src.width, min(strip_rows, src.height - top))
        yield src.read(1, window=win) == GREEN, src.window_transform(win)


def large_patches(src, min_area: float, strip_rows: int = 1024, *,
                  feedback: Feedback = SILENT):
    """(outlines, count): the outlines (shapely polygons, in the raster's CRS, cut at
    strip borders) of the ``count`` 8-connected green patches of the open class
    raster ``src`` whose area is at least ``min_area`` (map units²).

    A patch within one strip is kept (or not) as soon as the strip is read; a patch
    across strip borders needs all its pieces' sizes first, so the strips holding
    pieces of large ones are polygonized a second time. Only large outlines are
    kept."""
    from shapely.geometry import shape
    pixel_area = abs(src.transform.a * src.transform.e)
    min_pixels = min_area / pixel_area
    strip_rows = rows_per_strip(src.width, strip_rows)
    strips = math.ceil(src.height / strip_rows)
    patches = StripPatches()
    outlines, whole, border_ids = [], 0, []
    for i, (green, transform) in enumerate(_strips(src, strip_rows)):
        if feedback.is_cancelled():
            raise Cancelled("cancelled while finding green patches")
        regions, ids, pixels = patches.add(green, transform)
        for region, uf_id, n in zip(regions, ids, pixels):
            if uf_id is None and n >= min_pixels:
                outlines.append(shape(region))
                whole += 1
        border_ids.append([(j, uf_id) for j, uf_id in enumerate(ids)
                           if uf_id is not None])
        feedback.progress(50.0 * (i + 1) / strips)
    large = {p for p, n in patches.border_patches().items() if n >= min_pixels}
    keep = [{j for j, uf_id in ids if patches.patch_of(uf_id) in large}
            for ids in border_ids]
    for i, (green, transform) in enumerate(_strips(src, strip_rows,
                                                   lambda k: bool(keep[k]))):
        if feedback.is_cancelled():
            raise Cancelled("cancelled while finding green patches")
        if green is not None:
            outlines += [shape(g) for j, g in enumerate(strip_regions(green, transform))
                         if j in keep[i]]
        feedback.progress(50.0 + 50.0 * (i + 1) / strips)
    return outlines, whole + len(large)


def home_point(geometry):
    """Where a building is measured from: the point itself, or a point inside a
    footprint (its centroid when that lies inside)."""
    if geometry.geom_type == "Point":
        return geometry
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        centroid = geometry.centroid
        return centroid if geometry.contains(centroid) else \
            geometry.representative_point()
    return geometry.centroid


class SpatialIndex:
    """An STR-tree over a list of geometries that answers with positions in that
    list, on shapely 1.8 (whose ``query``/``nearest`` return geometries; its
    ``*_items`` methods return positions) and on shapely 2 (which returns positions)."""

    def __init__(self, geometries):
        import shapely
        from shapely.strtree import STRtree
        self.geometries = list(geometries)
        self._shapely2 = int(shapely.__version__.split(".")[0]) >= 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 1.8's notice about the 2.0 interface
            self._tree = STRtree(self.geometries)

    def query(self, geometry) -> list:
        """Positions of the geometries whose envelopes meet ``geometry``'s."""
        found = self._tree.query(geometry) if self._shapely2 else \
            self._tree.query_items(geometry)
        return sorted(int(i) for i in found)

    def nearest(self, geometry):
        """Position of the geometry nearest to ``geometry`` (None when empty)."""
        if not self.geometries:
            return None
        found = self._tree.nearest(geometry) if self._shapely2 else \
            self._tree.nearest_item(geometry)
        return None if found is None else int(found)


class ParkIndex:
    """Nearest-park queries over park outlines (an STR-tree)."""

    def __init__(self, parks):
        self.parks = [p for p in parks if p is not None and not p.is_empty]
        self._index = SpatialIndex(self.parks) if self.parks else None

    def distance(self, point) -> float:
        """Straight-line distance to the nearest park edge (0 inside a park; inf with
        no park)."""
        if self._index is None:
            return math.inf
        return float(self.parks[self._index.nearest(point)].distance(point))


class RoadNetwork:
    """An undirected graph of road lines (LineString / MultiLineString in a metric
    CRS): nodes at the vertices, and every ``NODE_SPACING_M`` along longer segments;
    edges weighted by length."""

    def __init__(self, lines, spacing: float = NODE_SPACING_M,
                 tolerance: float = NODE_TOLERANCE_M):
        self._ids = {}
        self.xy = []
        self.edges = []   # adjacency: list of [(neighbour, length)]
        self._tolerance = tolerance
        for line in lines:
            for part in getattr(line, "geoms", [line]):
                if part.geom_type != "LineString":
                    continue
                coords = list(part.coords)
                for (x0, y0, *_), (x1, y1, *_) in zip(coords, coords[1:]):
                    length = math.hypot(x1 - x0, y1 - y0)
                    pieces = max(1, math.ceil(length / spacing))
                    previous = self._node(x0, y0)
                    for k in range(1, pieces + 1):
                        t = k / pieces
                        node = self._node(x0 + t * (x1 - x0), y0 + t * (y1 - y0))
                        if node != previous:
                            self.edges[previous].append((node, length / pieces))
                            self.edges[node].append((previous, length / pieces))
                        previous = node
        self._index = None

    def _node(self, x, y):
        key = (round(x / self._tolerance), round(y / self._tolerance))
        node = self._ids.get(key)
        if node is None:
            node = self._ids[key] = len(self.xy)
            self.xy.append((x, y))
            self.edges.append([])
        return node

    def __len__(self):
        return len(self.xy)

    def nearest_node(self, point):
        """(node, straight distance to it)."""
        from shapely.geometry import Point
        if self._index is None:
            self._points = [Point(x, y) for x, y in self.xy]
            self._index = SpatialIndex(self._points)
        node = self._index.nearest(point)
        return node, float(self._points[node].distance(point))

    def distances_from(self, start: dict) -> np.ndarray:
        """Shortest network distance of every node from the nearest start node
        ({node: initial distance}); inf where unreachable (Dijkstra, many sources)."""
        best = np.full(len(self.xy), np.inf)
        queue = []
        for node, d in start.items():
            if d < best[node]:
                best[node] = d
                queue.append((d, node))
        heapq.heapify(queue)
        while queue:
            d, node = heapq.heappop(queue)
            if d > best[node]:
                continue
            for other, length in self.edges[node]:
                nd = d + length
                if nd < best[other]:
                    best[other] = nd
                    heapq.heappush(queue, (nd, other))
        return best


def network_distances(homes, parks: ParkIndex, network: RoadNetwork,
                      entry: float = PARK_ENTRY_M, *,
                      feedback: Feedback = SILENT) -> np.ndarray:
    """Distance from each home (shapely point) to the nearest park along the roads:
    straight to the nearest road node, along the network, and in from a node within
    ``entry`` of a park (its straight gap added). 0 for a home inside a park; inf
    where no park can be reached."""
    from shapely.geometry import Point
    start = {}
    for node, (x, y) in enumerate(network.xy):
        if node % 10000 == 0 and feedback.is_cancelled():
            raise Cancelled("cancelled while routing on the road network")
        gap = parks.distance(Point(x, y))
        if gap <= entry:
            start[node] = gap
    along = network.distances_from(start)
    out = np.empty(len(homes))
    for i, home in enumerate(homes):
        if parks.distance(home) == 0:
            out[i] = 0.0
            continue
        node, gap = network.nearest_node(home)
        out[i] = gap + along[node]
    return out

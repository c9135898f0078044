"""Frame-grid runs: one extraction job per image frame of a city, resumable.

A frame's map counts as finished only when its completion marker exists and
matches the file (size and modification time): the marker is written after the map
was renamed into place, so a crash or cancel mid-frame never leaves something a
resume would take for complete. Shards split the frames deterministically, so a
scheduler (Slurm array, Dask) can run a city on many machines without overlap.
"""
from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from ..errors import Cancelled
from ..feedback import Feedback, SILENT
from ..outputs import atomic_output

MARKER_SUFFIX = ".done.json"


@dataclass
class FrameJob:
    frame_id: str
    image: Path
    output: Path
    geometry: object = None        # shapely, in the grid's CRS
    status: str = "pending"
    message: str = ""
    green_fraction: float | None = None
    seconds: float | None = None
    extra: dict = field(default_factory=dict)


def safe_name(frame_id) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(frame_id))


def plan_jobs(frames, images_dir, out_dir) -> list:
    """``frames``: iterable of (frame id, image path as stored in the grid, geometry).
    Relative image paths are taken relative to ``images_dir``."""
    jobs, seen = [], set()
    for frame_id, image, geometry in frames:
        frame_id = str(frame_id)
        if frame_id in seen:
            raise ValueError(f"frame id {frame_id!r} appears twice in the grid; the ids "
                             "must be unique (they name the output files)")
        seen.add(frame_id)
        path = Path(str(image or "")).expanduser()
        if not path.is_absolute() and images_dir:
            path = Path(images_dir) / path
        jobs.append(FrameJob(frame_id, path, Path(out_dir) / f"{safe_name(frame_id)}.tif",
                             geometry))
    return jobs


def shard(jobs, index: int, count: int) -> list:
    """Shard ``index`` (1-based) of ``count``: frames sorted by id, dealt round-robin."""
    if count < 1 or not 1 <= index <= count:
        raise ValueError(f"shard {index}/{count}: use K/N with 1 <= K <= N")
    ordered = sorted(jobs, key=lambda j: j.frame_id)
    return [j for i, j in enumerate(ordered) if i % count == index - 1]


def marker_path(output) -> Path:
    return Path(f"{output}{MARKER_SUFFIX}")


def is_complete(job) -> bool:
    marker = marker_path(job.output)
    if not (job.output.exists() and marker.exists()):
        return False
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    stat = job.output.stat()
    return info.get("size") == stat.st_size and info.get("mtime_ns") == stat.st_mtime_ns


def write_marker(job, summary: dict):
    stat = job.output.stat()
    text = json.dumps({"frame_id": job.frame_id, "image": str(job.image),
                       "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                       "green_fraction": summary.get("green_fraction"),
                       "seconds": summary.get("seconds")})
    with atomic_output(marker_path(job.output), ".json") as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def run_jobs(jobs, extract, inside=None, *, feedback: Feedback = SILENT):
    """Run each job with ``extract(job, feedback) -> summary dict``; skip frames
    outside (``inside(job) -> bool``) and finished ones; a failing frame is reported
    and the run goes on. Cancellation is checked before each frame and, through
    ``extract``, once per batch inside it: a frame cut short keeps neither its map
    nor a marker."""
    for i, job in enumerate(jobs):
        if feedback.is_cancelled():
            raise Cancelled("cancelled: finished frames are kept; run again to resume")
        if inside is not None and not inside(job):
            job.status = "outside boundary"
        elif is_complete(job):
            info = json.loads(marker_path(job.output).read_text(encoding="utf-8"))
            job.status, job.green_fraction = "skipped (finished)", info["green_fraction"]
            job.seconds = 0.0
        elif not job.image.exists():
            job.status, job.message = "failed", f"image {job.image} does not exist"
        else:
            t0 = time.perf_counter()
            try:
                share = 100.0 / len(jobs)
                summary = extract(job, feedback.part(i * share, (i + 1) * share,
                                                     quiet=True))
            except Cancelled:
                raise Cancelled("cancelled: finished frames are kept; run again to "
                                "resume") from None
            except Exception as err:  # one bad frame must not stop a city
                job.status, job.message = "failed", str(err).splitlines()[0][:300]
            else:
                job.seconds = time.perf_counter() - t0
                summary["seconds"] = job.seconds
                write_marker(job, summary)
                job.status, job.green_fraction = "done", summary["green_fraction"]
        feedback.info(f"frame {job.frame_id}: {job.status}"
                      + (f" ({job.message})" if job.message else "")
                      + (f", {job.seconds:.1f} s" if job.status == "done" else ""))
        feedback.progress(100.0 * (i + 1) / len(jobs))
    return jobs


def write_summary(jobs, path):
    """CSV: frame id, status, green fraction, seconds, output, message."""
    with atomic_output(path, ".csv") as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(["frame_id", "status", "green_fraction", "seconds", "output",
                          "message"])
            for j in jobs:
                out.writerow([j.frame_id, j.status,
                              "" if j.green_fraction is None else f"{j.green_fraction:.6f}",
                              "" if j.seconds is None else f"{j.seconds:.2f}",
                              j.output if j.output.exists() else "", j.message])


def write_mosaic(paths, vrt_path, nodata=255):
    """A VRT of the frame maps (same CRS; the finest resolution wins). Overlaps are
    filled by later frames where they have data. Returns the number of frames used."""
    import rasterio
    infos = []
    for p in paths:
        with rasterio.open(p) as ds:
            infos.append((Path(p), ds.crs, ds.transform, ds.width, ds.height, ds.bounds))
    if not infos:
        raise ValueError("no finished frame to mosaic")
    crs = infos[0][1]
    usable = [i for i in infos if i[1] == crs]
    res = min(abs(i[2].a) for i in usable)
    left = min(i[5].left for i in usable)
    top = max(i[5].top for i in usable)
    right = max(i[5].right for i in usable)
    bottom = min(i[5].bottom for i in usable)
    width, height = round((right - left) / res), round((top - bottom) / res)
    folder = Path(vrt_path).resolve().parent
    sources = []
    for path, _, transform, w, h, b in usable:
        rel = os.path.relpath(path.resolve(), folder)
        sources.append(
            f'    <ComplexSource><SourceFilename relativeToVRT="1">{escape(rel)}'
            f'</SourceFilename><SourceBand>1</SourceBand>'
            f'<SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>'
            f'<DstRect xOff="{(b.left - left) / res:.6f}" yOff="{(top - b.top) / res:.6f}" '
            f'xSize="{(b.right - b.left) / res:.6f}" ySize="{(b.top - b.bottom) / res:.6f}"/>'
            f'<NODATA>{nodata}</NODATA></ComplexSource>')
    xml = (f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">\n'
           f'  <SRS>{escape(crs.to_wkt()) if crs else ""}</SRS>\n'
           f'  <GeoTransform>{left!r}, {res!r}, 0.0, {top!r}, 0.0, {-res!r}</GeoTransform>\n'
           f'  <VRTRasterBand dataType="Byte" band="1">\n'
           f'    <NoDataValue>{nodata}</NoDataValue>\n' + "\n".join(sources) +
           '\n  </VRTRasterBand>\n</VRTDataset>\n')
    with atomic_output(vrt_path, ".vrt") as tmp:
        Path(tmp).write_text(xml, encoding="utf-8")
    return len(usable), len(infos) - len(usable)


def frame_runner(model, card, options, boundary_geoms=None, boundary_crs=None):
    """(extract(job), inside(job)) for run_jobs. The boundary (shapely geometries in
    ``boundary_crs``, which is also the grid's CRS) is reprojected to each frame's
    raster CRS; frames whose footprint misses it are 'outside'."""
    import rasterio
    from rasterio.warp import transform_geom
    from shapely.geometry import mapping, shape
    from shapely.ops import unary_union

    from .boundary import BoundaryMask
    from .predict import predict_raster

    union = unary_union(boundary_geoms) if boundary_geoms else None

    def inside(job):
        if union is None or job.geometry is None:
            return True
        return job.geometry.intersects(union)

    def extract(job, feedback: Feedback = SILENT):
        mask = None
        if boundary_geoms:
            with rasterio.open(job.image) as src:
                raster_crs = src.crs
            geoms = boundary_geoms
            if raster_crs is not None and boundary_crs is not None \
                    and raster_crs != boundary_crs:
                geoms = [shape(transform_geom(boundary_crs, raster_crs, mapping(g)))
                         for g in boundary_geoms]
            mask = BoundaryMask(geoms)
        return predict_raster(job.image, job.output, model, card, options=options,
                              boundary=mask, feedback=feedback)

    return extract, inside

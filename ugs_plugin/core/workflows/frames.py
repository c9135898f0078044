"""Extract urban green space over a frame grid: one map per frame, resumable,
shardable for cluster arrays, with a summary table and a VRT mosaic."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..config import PredictOptions
from ..errors import file_errors, UgsError
from ..feedback import Feedback, SILENT
from ..vectors import VectorLayer
from . import spec
from .extract import MAPPING_OPTIONS

STATUSES = ("done", "skipped (finished)", "outside boundary", "failed")


@dataclass
class FramesRequest:
    grid: VectorLayer            # one polygon per frame, a field with its image path
    output_folder: str
    image_field: str = "image"
    id_field: str | None = None  # None: feature order (1, 2, ...)
    images_folder: str | None = None  # for relative image paths
    boundary: VectorLayer | None = None
    model: str | None = None
    device: str = "auto"
    engine: str = "auto"
    options: PredictOptions = field(default_factory=PredictOptions)
    shard: tuple = (1, 1)        # (K, N): every N-th frame by id, from the K-th


OPTIONS = spec.bind(
    FramesRequest,
    spec.Option("image_field", "IMAGE_FIELD", "Field with the image path", "field",
                parent="GRID", field_type="string"),
    spec.Option("id_field", "ID_FIELD", "Field with the frame id (empty = feature "
                "order)", "field", parent="GRID"),
    spec.Option("images_folder", "IMAGES_FOLDER", "Images folder (for relative paths)",
                "folder", flag="--images"),
    *MAPPING_OPTIONS)


@dataclass
class FramesResult:
    jobs: list
    counts: dict                 # status -> frames
    summary: str                 # CSV path
    mosaic: str | None           # VRT path (whole grid only, when frames finished)
    output_folder: str
    frames_in_other_crs: int = 0

    @property
    def seconds_per_frame(self) -> float:
        done = [j for j in self.jobs if j.status == "done"]
        return sum(j.seconds for j in done) / len(done) if done else 0.0


def parse_shard(text: str) -> tuple:
    try:
        k, n = (int(v) for v in str(text).split("/"))
    except ValueError:
        raise UgsError(f"shard {text!r}: use K/N, e.g. 2/8") from None
    return k, n


def run(request: FramesRequest, feedback: Feedback = SILENT) -> FramesResult:
    from rasterio.crs import CRS

    from ..mapping import frames
    from ..model.engines import load_engine
    grid = request.grid
    grid.require_features("frame grid")
    grid.require_fields((request.image_field, request.id_field), "frame grid")
    rows = [(attrs[request.id_field] if request.id_field else i,
             attrs[request.image_field], geom)
            for i, (geom, attrs) in enumerate(grid.features, start=1)]
    k, n = request.shard
    try:
        jobs = frames.shard(frames.plan_jobs(rows, request.images_folder,
                                             request.output_folder), k, n)
    except ValueError as err:
        raise UgsError(str(err)) from None
    boundary = None
    if request.boundary is not None:
        request.boundary.require_features("urban boundary")
        boundary = [g for g, _ in request.boundary.in_crs(grid.crs)]
    out = Path(request.output_folder)
    with file_errors(f"the output folder {out}"):
        out.mkdir(parents=True, exist_ok=True)
        if not os.access(out, os.W_OK):
            raise UgsError(f"cannot write to {out}; choose another output folder")
        model, card = load_engine(request.model, request.device, request.engine,
                                  precision=request.options.precision,
                                  tile=request.options.tile_size, feedback=feedback)
        feedback.info(f"engine {model.describe()}")
        grid_crs = CRS.from_user_input(grid.crs) if grid.crs else None
        extract, inside = frames.frame_runner(model, card, request.options, boundary,
                                              grid_crs)
        frames.run_jobs(jobs, extract, inside, feedback=feedback)
        summary = out / (f"summary_{k}of{n}.csv" if n > 1 else "summary.csv")
        frames.write_summary(jobs, summary)
        finished = [j.output for j in jobs if j.status in STATUSES[:2]]
        mosaic, other_crs = None, 0
        if n == 1 and finished:
            mosaic = out / "mosaic.vrt"
            _, other_crs = frames.write_mosaic(finished, mosaic)
    for job in jobs:
        if job.status == "failed":
            feedback.warning(f"frame {job.frame_id} failed: {job.message}")
    if other_crs:
        feedback.warning(f"{other_crs} frame(s) in another CRS are not in the mosaic")
    return FramesResult(jobs, {s: sum(j.status == s for j in jobs) for s in STATUSES},
                        str(summary), str(mosaic) if mosaic else None, str(out),
                        other_crs)

"""``python -m ugs_plugin frames``: map every frame of a frame grid (resumable)."""
from __future__ import annotations

import json

from ..core.workflows.frames import OPTIONS
from .options import add_options, add_output_arguments, build_request
from .vector_io import optional_layer, read_layer


def add_parser(sub):
    fr = sub.add_parser("frames", help="map every frame of a frame grid (resumable)",
                        description="Run the extraction for each frame of GRID (one "
                        "polygon per image frame, a field with its image path). "
                        "Finished frames are skipped, so re-running resumes. --shard K/N "
                        "runs every N-th frame (sorted by id) starting at the K-th, for "
                        "Slurm arrays or Dask: shards never overlap. Without shards, a "
                        "mosaic.vrt of all finished frames is written.")
    fr.add_argument("grid")
    fr.add_argument("--out", required=True, help="output folder")
    fr.add_argument("--boundary", help="urban boundary polygons (any format/CRS)")
    fr.add_argument("--shard", default="1/1", help="K/N (default 1/1)")
    add_options(fr, OPTIONS)
    add_output_arguments(fr)
    fr.set_defaults(func=run)


def run(args, feedback):
    from ..core.workflows import frames
    result = frames.run(build_request(
        args, OPTIONS, grid=read_layer(args.grid), output_folder=args.out,
        boundary=optional_layer(args.boundary), shard=frames.parse_shard(args.shard)),
        feedback)
    shard = "/".join(map(str, frames.parse_shard(args.shard)))
    print(json.dumps({"shard": shard, "frames": [j.frame_id for j in result.jobs],
                      "counts": result.counts, "summary": result.summary})
          if args.json else f"shard {shard}: {result.counts}; summary {result.summary}")
    return 1 if result.counts["failed"] else 0

"""Frame-grid runs: per-frame maps, mosaic, summary, resume, cancel, shards."""
import csv
import json

import numpy as np
import pytest
import rasterio
from build_frame_grid import build_frame_grid

from conftest import cli

from ugs_plugin.core.errors import Cancelled
from ugs_plugin.core.feedback import Feedback

FRAME = 256
COLS, ROWS = 3, 2
MISSING = "r1c2"  # this frame's image is never written


@pytest.fixture()
def grid(tmp_path):
    """3 x 2 real frames of 256 px, a boundary over the left two columns (inset
    10 m), and one frame whose image is missing."""
    return build_frame_grid(tmp_path, FRAME, COLS, ROWS, missing=MISSING)



def run_grid(processing, grid, out, boundary=True, feedback=None):
    grid_path, images, boundary_path = grid
    params = {"GRID": str(grid_path), "IMAGE_FIELD": "image", "ID_FIELD": "frame",
              "IMAGES_FOLDER": str(images), "OUTPUT_FOLDER": str(out)}
    if boundary:
        params["BOUNDARY"] = str(boundary_path)
    return processing.run("ugs:extractframegrid", params, feedback=feedback)


def summary_rows(out):
    with open(out / "summary.csv", newline="") as f:
        return {r["frame_id"]: r for r in csv.DictReader(f)}


def test_frame_grid_run_maps_mosaic_and_summary(processing, grid, tmp_path):
    out = tmp_path / "out"
    result = run_grid(processing, grid, out, boundary=False)
    rows = summary_rows(out)
    assert rows[MISSING]["status"] == "failed" and "does not exist" in rows[MISSING]["message"]
    done = [f for f, r in rows.items() if r["status"] == "done"]
    assert sorted(done) == sorted({f"r{r}c{c}" for r in range(2) for c in range(3)}
                                  - {MISSING})
    assert result["FRAMES_DONE"] == 5 and result["FRAMES_FAILED"] == 1
    for f in done:
        assert float(rows[f]["seconds"]) > 0 and 0 <= float(rows[f]["green_fraction"]) <= 1
    # The mosaic shows each frame's map in its place; the missing frame is nodata.
    with rasterio.open(result["MOSAIC"]) as mosaic:
        assert mosaic.shape == (2 * FRAME, 3 * FRAME)
        data = mosaic.read(1)
    for f in done:
        r, c = int(f[1]), int(f[3])
        with rasterio.open(out / f"{f}.tif") as frame:
            assert np.array_equal(data[r * FRAME:(r + 1) * FRAME,
                                       c * FRAME:(c + 1) * FRAME], frame.read(1))
    assert (data[FRAME:, 2 * FRAME:] == 255).all()


def test_boundary_skips_outside_frames_and_masks(processing, grid, tmp_path):
    out = tmp_path / "out"
    result = run_grid(processing, grid, out)
    rows = summary_rows(out)
    assert {f for f, r in rows.items() if r["status"] == "outside boundary"} == \
        {"r0c2", MISSING}
    assert result["FRAMES_OUTSIDE"] == 2
    with rasterio.open(out / "r0c0.tif") as frame:
        data = frame.read(1)
    assert (data[:10] == 255).all() and (data[:, :10] == 255).all()  # 10 m inset
    assert (data[20:, 20:] != 255).all()


def test_rerun_after_deleting_one_output_redoes_only_that_frame(processing, grid,
                                                                tmp_path):
    out = tmp_path / "out"
    run_grid(processing, grid, out, boundary=False)
    (out / "r1c0.tif").unlink()
    result = run_grid(processing, grid, out, boundary=False)
    rows = summary_rows(out)
    assert [f for f, r in rows.items() if r["status"] == "done"] == ["r1c0"]
    assert result["FRAMES_SKIPPED"] == 4 and result["FRAMES_DONE"] == 1


def test_cancel_mid_frame_leaves_nothing_a_resume_takes_for_complete(grid, tmp_path):
    from ugs_plugin.core.mapping import frames
    from ugs_plugin.core.model.files import load_model
    from ugs_plugin.core.config import PredictOptions
    grid_path, images, _ = grid
    rows = [(f"r{r}c{c}", f"r{r}c{c}.tif", None) for r in range(ROWS) for c in range(COLS)]
    out = tmp_path / "out"
    jobs = frames.plan_jobs(rows, images, out)
    model, card = load_model(None, "cpu")
    extract, inside = frames.frame_runner(model, card, PredictOptions(tile_size=128,
                                                                      overlap=0))
    calls = []

    class CancelInSecondFrame(Feedback):
        def is_cancelled(self):
            calls.append(1)
            return len(calls) > 4  # frame 1: 1 check + 1 batch; frame 2 stops mid-way

    with pytest.raises(Cancelled):
        frames.run_jobs(jobs, extract, inside, feedback=CancelInSecondFrame())
    assert frames.is_complete(jobs[0]) and not frames.is_complete(jobs[1])
    assert not jobs[1].output.exists()
    assert sorted(p.name for p in out.iterdir()) == ["r0c0.tif", "r0c0.tif.done.json"]
    # A half-written file with no marker is not taken for complete either.
    jobs[1].output.write_bytes(b"partial")
    assert not frames.is_complete(jobs[1])
    frames.run_jobs(jobs, extract, inside)
    assert [j.status for j in jobs][:2] == ["skipped (finished)", "done"]


def test_shards_cover_every_frame_once(grid, tmp_path):
    grid_path, images, _ = grid
    seen = []
    for k in (1, 2):
        proc = cli("frames", grid_path, "--images", images, "--out", tmp_path / "out",
                   "--id-field", "frame", "--shard", f"{k}/2", "--json", "--quiet")
        result = json.loads(proc.stdout)
        assert proc.returncode == (1 if MISSING in result["frames"] else 0), proc.stderr
        seen += result["frames"]
    assert sorted(seen) == sorted(f"r{r}c{c}" for r in range(ROWS) for c in range(COLS))
    assert len(seen) == len(set(seen))
    assert len(list((tmp_path / "out").glob("*.done.json"))) == 5

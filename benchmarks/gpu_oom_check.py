"""A real CUDA out-of-memory during extraction: fill the GPU so that only about
ROOM tiles of the model fit, run the extraction with a larger batch, and check that
it falls back to smaller batches and writes the same map as a small-batch run.

    python3 benchmarks/gpu_oom_check.py MODEL.pt [--tile-mb 230] [--room 2.6]

(``--tile-mb``: GPU memory per 512² tile of the model, from bench_predict.py's
peak_gpu_mb / batch; 230 for the full UGSNet.)
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import rasterio
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from bench_predict import make_raster  # noqa: E402
from ugs_plugin.core.model.files import load_model  # noqa: E402
from ugs_plugin.core.config import PredictOptions  # noqa: E402
from ugs_plugin.core.feedback import Recording  # noqa: E402
from ugs_plugin.core.mapping.predict import predict_raster  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--tile-mb", type=float, default=230)
    ap.add_argument("--room", type=float, default=2.6, help="tiles that still fit")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scene, ref, out = (Path(tmp) / n for n in ("scene.tif", "ref.tif", "map.tif"))
        make_raster(scene, 2048)
        model, card = load_model(args.model, "cuda")
        predict_raster(scene, ref, model, card, options=PredictOptions(batch_size=2))
        torch.cuda.empty_cache()
        free, _ = torch.cuda.mem_get_info()
        hog = torch.empty(int(free - args.room * args.tile_mb * 2 ** 20),
                          dtype=torch.uint8, device="cuda")
        print(f"free {free / 2 ** 30:.1f} GiB, left {(free - hog.numel()) / 2 ** 30:.2f} "
              "GiB", flush=True)
        t0 = time.time()
        recorded = Recording()
        summary = predict_raster(scene, out, model, card,
                                 options=PredictOptions(batch_size=16),
                                 feedback=recorded)
        warnings = recorded.warnings
        print("warnings:", warnings, "batch used", summary["batch_size"],
              f"{time.time() - t0:.1f} s")
        with rasterio.open(ref) as a, rasterio.open(out) as b:
            differ = int((a.read(1) != b.read(1)).sum())
        print("identical map:", differ == 0, "differing px", differ)


if __name__ == "__main__":
    main()

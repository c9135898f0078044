"""Build the source sample shipped for adaptation (run once, at development time; the
output is committed in resources/source_sample/).

Labelled tiles drawn from the bundled model's own training cities (NAIP, see
benchmarks/naip_eval.py), in the UGSet layout the adaptation also accepts from
users: ``images/<name>.tif`` (RGB, JPEG-compressed GeoTIFF, georeferenced so the
pixel size is known) and ``masks/<name>.tif`` (1 green, 0 other, 255 ignored: the
ambiguous NDVI band). Labels are NDVI pseudo-labels, as in training.

    .venv/bin/python scripts/build_source_sample.py [--per-city 16] [--out resources/source_sample]
"""
import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import rasterio

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
import naip_eval  # noqa: E402
from train_default_model import with_ignore_band  # noqa: E402

ATTRIBUTION = ("Imagery: USDA NAIP 2020 (public domain), crops from Ventura et al. "
               "(2024), Int. J. Appl. Earth Obs. Geoinf. 130:103848, CC BY 4.0.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-city", type=int, default=16)
    parser.add_argument("--out", default=str(REPO / "resources" / "source_sample"))
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    (out / "images").mkdir(parents=True)
    (out / "masks").mkdir()
    names = []
    for city in naip_eval.TRAIN_CITIES:
        samples = naip_eval.load_city(city)
        # Evenly spaced picks: deterministic and spread over the city's crops.
        picks = np.unique(np.linspace(0, len(samples) - 1, args.per_city).round()
                          .astype(int))
        for s in with_ignore_band([samples[i] for i in picks]):
            with rasterio.open(naip_eval.NAIP / "images" / f"{s.name}.tif") as src:
                crs, transform = src.crs, src.transform
            common = dict(driver="GTiff", width=s.image.shape[2], height=s.image.shape[1],
                          crs=crs, transform=transform, dtype="uint8")
            with rasterio.open(out / "images" / f"{s.name}.tif", "w", count=3,
                               compress="jpeg", jpeg_quality=92, photometric="ycbcr",
                               **common) as dst:
                dst.write(s.image)
            with rasterio.open(out / "masks" / f"{s.name}.tif", "w", count=1,
                               compress="deflate", nodata=255, **common) as dst:
                dst.write(s.mask, 1)
            names.append(s.name)
    (out / "README.md").write_text(
        "# Source sample for adaptation\n\n"
        f"{len(names)} labelled tiles of 256 x 256 px at 0.6 m from the training cities "
        f"of the bundled model ({', '.join(naip_eval.TRAIN_CITIES)}), built by "
        "`scripts/build_source_sample.py`. The default source tiles of "
        "*Adapt model to region*: the supervised half of the adversarial training.\n\n"
        "Masks: 1 = vegetation, 0 = other, 255 = ignored. They are pseudo-labels "
        f"({naip_eval.LABEL_RULE}; NDVI 0.05-0.15 ignored), not ground truth.\n\n"
        f"{ATTRIBUTION}\n")
    print(f"{len(names)} tiles written to {out}")


if __name__ == "__main__":
    main()

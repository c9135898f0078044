"""The labelled evaluation points of the Valencia sample scene
(resources/sample/valencia_labelled_points.geojson): how their places were drawn and
how the chips they were labelled from were made.

Places: 80 pixels of resources/sample/valencia_sample.tif drawn at random (seed 2026),
40 among the 30 % greenest by excess green (2G - R - B over the sum) and 40 among the
rest, so that green space is not too rare to score; no model took part in the choice.
Each was labelled by eye from a 64 m chip (3x zoom, the pixel between the cross-hair
arms): green space (vegetation: trees, shrubs, grass, dry grass) or other, with the
kind of surface; points too close to an edge to judge were left out (uncertain).

    .venv/bin/python scripts/valencia_points.py --sheets DIR   # chips as PNG sheets
"""
import argparse
from pathlib import Path

import numpy as np
import rasterio

REPO = Path(__file__).resolve().parent.parent
SCENE = REPO / "resources" / "sample" / "valencia_sample.tif"
POINTS = REPO / "resources" / "sample" / "valencia_labelled_points.geojson"
SEED, PER_STRATUM, MARGIN = 2026, 40, 32


def draw_places(path=SCENE):
    """[(stratum, row, col)] in labelling order."""
    with rasterio.open(path) as ds:
        a = ds.read().astype(np.float32)
    height, width = a.shape[1:]
    red, green, blue = a
    exg = (2 * green - red - blue) / np.maximum(a.sum(0), 1)
    valid = a.sum(0) > 0
    rng = np.random.default_rng(SEED)
    top = np.quantile(exg[valid], 0.7)
    places = []
    for stratum, where in (("exg_top30", exg >= top), ("exg_rest", exg < top)):
        rows, cols = np.nonzero(where & valid)
        inner = ((rows > MARGIN) & (rows < height - MARGIN) & (cols > MARGIN)
                 & (cols < width - MARGIN))
        for i in rng.choice(np.nonzero(inner)[0], PER_STRATUM, replace=False):
            places.append((stratum, int(rows[i]), int(cols[i])))
    return [places[i] for i in rng.permutation(len(places))]


def write_sheets(folder):
    from PIL import Image, ImageDraw
    places = draw_places()
    Path(folder).mkdir(parents=True, exist_ok=True)
    with rasterio.open(SCENE) as ds:
        for sheet in range(0, len(places), 20):
            canvas = Image.new("RGB", (1000, 880), "white")
            text = ImageDraw.Draw(canvas)
            for k, (_, row, col) in enumerate(places[sheet:sheet + 20]):
                chip = ds.read(window=((row - 32, row + 32), (col - 32, col + 32)))
                im = Image.fromarray(chip.transpose(1, 2, 0)).resize((192, 192),
                                                                     Image.NEAREST)
                draw, c = ImageDraw.Draw(im), 97
                for x0, y0, x1, y1 in ((c - 20, c, c - 6, c), (c + 6, c, c + 20, c),
                                       (c, c - 20, c, c - 6), (c, c + 6, c, c + 20)):
                    draw.line((x0, y0, x1, y1), fill=(255, 0, 255), width=2)
                canvas.paste(im, ((k % 5) * 200, (k // 5) * 220 + 18))
                text.text(((k % 5) * 200 + 4, (k // 5) * 220 + 2), f"#{sheet + k}",
                          fill="black")
            canvas.save(Path(folder) / f"sheet{sheet // 20}.png")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sheets", required=True, help="folder for the chip sheets")
    write_sheets(ap.parse_args().sheets)


if __name__ == "__main__":
    main()

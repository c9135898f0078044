"""Band choice, radiometric scaling and validity."""
import numpy as np
import pytest

from ugs_plugin.core.mapping.imagery import (choose_bands, ImageryError,
                                             parse_band_list, plan_scaling, to_unit,
                                             valid_mask)


def test_rgb_from_three_or_four_bands():
    assert choose_bands(3) == (1, 2, 3)
    assert choose_bands(4) == (1, 2, 3)
    assert choose_bands(4, needed=4) == (1, 2, 3, 4)


@pytest.mark.parametrize("count", [1, 2])
def test_one_or_two_bands_need_a_mapping(count):
    with pytest.raises(ImageryError, match="band mapping"):
        choose_bands(count)


def test_many_bands_need_a_mapping_and_mapping_is_checked():
    with pytest.raises(ImageryError, match="say which are red, green and blue"):
        choose_bands(8)
    assert choose_bands(8, (4, 3, 2)) == (4, 3, 2)
    with pytest.raises(ImageryError, match="do not exist"):
        choose_bands(3, (3, 2, 9))
    with pytest.raises(ImageryError, match="lists 2"):
        choose_bands(3, (1, 2))


def test_parse_band_list():
    assert parse_band_list(" 3, 2,1 ") == (3, 2, 1)
    assert parse_band_list("") == ()
    with pytest.raises(ImageryError, match="comma-separated"):
        parse_band_list("red,green,blue")


def test_12_bit_data_is_stretched_not_divided():
    rng = np.random.default_rng(0)
    sample = rng.integers(0, 4096, size=(3, 64, 64)).astype(np.float64)
    low, high, note = plan_scaling("uint16", sample)
    assert all(4000 < h <= 4095 for h in high) and all(0 <= lo < 50 for lo in low)
    assert "12-bit" in note and "percentile" in note
    unit = to_unit(sample.astype(np.uint16), low, high)
    assert unit.min() == 0.0 and unit.max() == 1.0
    assert 0.45 < unit.mean() < 0.55  # a fixed /65535 would give ~0.03


def test_uint8_is_scaled_by_255():
    low, high, note = plan_scaling("uint8", np.zeros((3, 2, 2)))
    assert high == (255.0,) * 3 and "1/255" in note


def test_valid_mask_from_nodata_alpha_and_nan():
    data = np.ones((3, 2, 3), np.float32)
    data[:, 0, 0] = 0           # all bands nodata → invalid
    data[0, 0, 1] = 0           # one band 0 is a real dark value → valid
    data[1, 1, 2] = np.nan      # NaN → invalid
    alpha = np.array([[255, 255, 255], [0, 255, 255]], np.uint8)
    valid = valid_mask(data, nodata=0, alpha=alpha)
    assert valid.tolist() == [[False, True, True], [False, True, False]]


def test_pixel_size_in_metres_for_projected_and_geographic_rasters():
    from rasterio.coords import BoundingBox
    from rasterio.crs import CRS
    from rasterio.transform import from_origin
    from ugs_plugin.core.mapping.imagery import pixel_size_m
    utm = pixel_size_m(CRS.from_epsg(25830), from_origin(0, 0, 1.0, 1.0), None)
    assert utm == 1.0
    feet = pixel_size_m(CRS.from_epsg(2227), from_origin(0, 0, 3.0, 3.0), None)
    assert abs(feet - 0.9144) < 1e-3  # US survey feet
    # ~1 m at 39.5 N (Valencia) expressed in degrees.
    deg = from_origin(-0.37, 39.49, 1.164e-5, 9.0e-6)
    size = pixel_size_m(CRS.from_epsg(4326), deg, BoundingBox(-0.37, 39.48, -0.36, 39.49))
    assert 0.95 < size < 1.05
    assert pixel_size_m(None, deg, None) is None

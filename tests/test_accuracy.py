"""Accuracy engine against the published worked examples and hand-computed cases."""
import numpy as np
import pytest

from ugs_plugin.core.accuracy.metrics import (binary_metrics, ConfusionMatrix,
                                              ratio_estimate, stratified_accuracy)


def olofsson_2013():
    mapped, reference = [], []
    for m, r, n in ((1, 1, 410), (1, 2, 26), (2, 1, 67), (2, 2, 369)):
        mapped += [m] * n
        reference += [r] * n
    return mapped, mapped, reference, {1: 828_837, 2: 33_067_283}


def stehman_2014():
    strata = [int(c) for c in ("1 " * 10 + "2 " * 10 + "3 " * 10 + "4 " * 10).split()]
    reference = ("A A A A A C B A B C A B B B B B A A B B C C C C C D D B B A "
                 "D D D D D D D C C B").split()
    mapped = ("A A A A A A A B B B A B B B B B B B B B B B C C C C C C B B "
              "D D D D D D D D D D").split()
    return strata, mapped, reference, {1: 40_000, 2: 30_000, 3: 20_000, 4: 10_000}


def close(value, published):
    digits = len(str(published).split(".")[1])
    return round(value, digits) == published


def test_olofsson_2013_example():
    strata, mapped, reference, sizes = olofsson_2013()
    est = stratified_accuracy(strata, mapped, reference, sizes)
    c1, c2 = est["classes"][1], est["classes"][2]
    assert close(est["overall_accuracy"].value, 0.84862969)
    assert close(est["overall_accuracy"].se, 0.01687046)
    assert close(c1["users_accuracy"].value, 0.9403670)
    assert close(c2["users_accuracy"].value, 0.8463303)
    assert close(c1["producers_accuracy"].value, 0.132986)
    assert close(c2["producers_accuracy"].value, 0.998237)
    assert close(c1["area_proportion"].value, 0.1729063)
    assert close(c2["area_proportion"].value, 0.8270937)
    assert close(c1["area_proportion"].se, 0.01687046)
    assert close(c2["area_proportion"].se, 0.01687046)
    half = 1.96 * c1["area_proportion"].se
    assert close(half, 0.03306609)
    # The paper's UA/PA standard errors divide the sample variance by n_i.
    est_n = stratified_accuracy(strata, mapped, reference, sizes, ua_pa_divisor="n")
    c1, c2 = est_n["classes"][1], est_n["classes"][2]
    assert close(c1["users_accuracy"].se, 0.01134094)
    assert close(c2["users_accuracy"].se, 0.01727113)
    assert close(c1["producers_accuracy"].se, 0.0130331827)
    assert close(c2["producers_accuracy"].se, 0.0003366146)


def test_stehman_2014_strata_differ_from_map_classes():
    strata, mapped, reference, sizes = stehman_2014()
    est = stratified_accuracy(strata, mapped, reference, sizes)
    published_matrix = {"A": [9.2, 1.6, 1.6, 0.0], "B": [4.8, 10.8, 3.2, 0.0],
                        "C": [0.0, 0.8, 2.4, 1.6], "D": [0.0, 0.4, 0.8, 2.8]}
    for row, values in published_matrix.items():
        got = [est["error_matrix"][row][col] * 40 for col in "ABCD"]
        assert np.allclose(got, values, atol=1e-9), row
    published = {"A": (0.7419355, 0.1645627, 0.6571429, 0.1477318, 0.6969697),
                 "B": (0.5744681, 0.1248023, 0.7941176, 0.1165671, 0.6666667),
                 "C": (0.5000000, 0.2151657, 0.3000000, 0.1504438, 0.3750000)}
    for k, (ua, ua_se, pa, pa_se, f1) in published.items():
        c = est["classes"][k]
        assert close(c["users_accuracy"].value, ua)
        assert close(c["users_accuracy"].se, ua_se)
        assert close(c["producers_accuracy"].value, pa)
        assert close(c["producers_accuracy"].se, pa_se)
        assert close(c["f1"], f1)
    assert close(est["classes"]["D"]["users_accuracy"].value, 0.7000000)


def test_confusion_matrix_streams_windows_and_ignores_nodata():
    mapped = np.array([[1, 1, 0, 0], [1, 255, 0, 1]], np.uint8)
    reference = np.array([[1, 0, 0, 1], [1, 1, 255, 1]], np.uint8)
    cm = ConfusionMatrix()
    cm.add(mapped[:1], reference[:1]).add(mapped[1:], reference[1:])
    # tn=1 (0,0), fp=1, fn=1, tp=3 by hand
    assert cm.matrix.tolist() == [[1, 1], [1, 3]]
    m = binary_metrics(cm.matrix)
    assert m["overall_accuracy"] == 4 / 6
    assert m["green"]["precision"] == 3 / 4 and m["green"]["recall"] == 3 / 4
    assert m["green"]["f1"] == 0.75 and m["green"]["iou"] == 3 / 5
    assert m["other"]["precision"] == 1 / 2 and m["other"]["iou"] == 1 / 3
    # kappa by hand: po = 4/6, pe = (2*2 + 4*4) / 36
    assert m["kappa"] == pytest.approx((4 / 6 - 20 / 36) / (1 - 20 / 36))


def test_degenerate_cases_are_defined_or_none_never_nan():
    no_green_reference = binary_metrics([[5, 2], [0, 0]])
    assert no_green_reference["green"]["recall"] is None
    assert no_green_reference["green"]["precision"] == 0.0
    assert no_green_reference["green"]["f1"] == 0.0
    nothing_mapped_green = binary_metrics([[5, 0], [3, 0]])
    assert nothing_mapped_green["green"]["precision"] is None
    assert nothing_mapped_green["kappa"] == 0.0
    one_class = binary_metrics([[7, 0], [0, 0]])
    assert one_class["kappa"] is None and one_class["overall_accuracy"] == 1.0
    empty = binary_metrics([[0, 0], [0, 0]])
    assert empty["overall_accuracy"] is None and empty["kappa"] is None
    # A stratum with a single point: an estimate, with no variance from that stratum.
    est = ratio_estimate([1, 0, 1], [1, 1, 1], [1, 1, 2], {1: 100, 2: 50})
    assert est.value == pytest.approx((100 * 0.5 + 50 * 1) / 150)
    assert est.se is not None and not np.isnan(est.se)
    one_class_sample = stratified_accuracy([1, 1], [1, 1], [1, 1], {1: 10})
    assert one_class_sample["overall_accuracy"].value == 1.0
    assert one_class_sample["overall_accuracy"].se == 0.0

"""The plugin in a real QGIS desktop (under Xvfb): toolbar actions, pre-filled
dialogs, clean unload."""
import json
import shutil
import subprocess

import pytest

from conftest import REPO, SAMPLE_REFERENCE, SAMPLE_SCENE, hiding

pytestmark = pytest.mark.desktop


@pytest.fixture(scope="module")
def desktop_result(tmp_path_factory, qgis_process_env):
    if shutil.which("xvfb-run") is None:
        pytest.fail("xvfb-run is missing: scripts/setup.sh installs the xvfb package")
    out = tmp_path_factory.mktemp("gui") / "result.json"
    work = tmp_path_factory.mktemp("gui_project")
    env = dict(qgis_process_env, UGS_GUI_RESULT=str(out), UGS_GUI_WORKDIR=str(work),
               UGS_GUI_RASTER=str(SAMPLE_SCENE), UGS_GUI_REFERENCE=str(SAMPLE_REFERENCE))
    env.pop("QT_QPA_PLATFORM", None)  # a real (virtual) screen
    subprocess.run(["xvfb-run", "-a", "qgis", "--noversioncheck", "--nologo", "--code",
                    str(REPO / "tests" / "gui" / "desktop_check.py")],
                   env=env, timeout=180, capture_output=True)
    assert out.exists(), "QGIS did not run the GUI check"
    result = json.loads(out.read_text())
    result["workdir"] = str(work)
    assert "error" not in result, result.get("error")
    return result


def test_toolbar_actions_and_algorithms(desktop_result):
    assert {"Extract Urban Green Space", "Assess accuracy", "Draw adaptation region",
            "Mark green space", "Mark not green space", "Undo last mark",
            "Fine-tune model on reference polygons"} <= set(desktop_result["toolbar"])
    assert desktop_result["algorithms"] == [
        "ugs:adapttoregion", "ugs:assessaccuracy", "ugs:createreferencelayer",
        "ugs:extractframegrid", "ugs:extracturbangreenspace",
        "ugs:finetuneonreference", "ugs:greenspacechange",
        "ugs:greenspaceindicators", "ugs:greenspacestatistics",
        "ugs:maskbyurbanboundary", "ugs:stratifiedsample", "ugs:suggestplacestomark",
        "ugs:trainmodel"]


def test_toolbar_buttons_open_prefilled_dialogs(desktop_result):
    ids = desktop_result["layer_ids"]
    extract = desktop_result["extract_dialog"]
    assert extract["algorithm"] == "ugs:extracturbangreenspace"
    assert extract["params"]["INPUT"] == ids["raster"]
    assess = desktop_result["assess_dialog"]
    assert assess["algorithm"] == "ugs:assessaccuracy"
    assert assess["params"] == {"INPUT": ids["raster"], "REFERENCE": ids["reference"]}


def test_unload_removes_everything(desktop_result):
    assert desktop_result["unloaded"] is True
    assert desktop_result["provider_after_unload"] is False
    assert not {"Extract Urban Green Space", "Assess accuracy",
                "Draw adaptation region", "Mark green space", "Mark not green space",
                "Undo last mark"} & set(desktop_result["toolbar_after_unload"])


def test_dragging_a_rectangle_keeps_it_and_opens_the_adaptation(desktop_result):
    r = desktop_result
    assert r["tool_active"] is True
    region = r["after_rectangle"]
    assert region["layers"] == 1 and region["features"] == 1
    assert region["crs"] == "EPSG:25830" and region["vertices"] == 5
    assert region["bbox"] == r["rectangle_expected"]
    dialog = r["adapt_dialog_rectangle"]
    assert dialog["algorithm"] == "ugs:adapttoregion"
    assert dialog["params"] == {"INPUT": r["layer_ids"]["raster"],
                                "REGION": region["id"], "REFERENCE": "None"}
    assert r["tool_active_after_region"] is False  # the previous tool is back


def test_clicked_polygon_replaces_the_region(desktop_result):
    r = desktop_result
    region = r["after_polygon"]
    assert region["layers"] == 1 and region["features"] == 1
    assert region["vertices"] == 5  # four corners, closed
    assert region["bbox"] == r["polygon_expected"]
    assert r["adapt_dialog_polygon"]["params"]["REGION"] == region["id"]


def test_double_click_closes_a_polygon(desktop_result):
    r = desktop_result
    region = r["after_double_click"]
    assert region["features"] == 1 and region["vertices"] == 4  # a closed triangle
    assert r["stray_vertices"] == 0
    assert r["adapt_dialog_double_click"]["params"]["REGION"] == region["id"]


def test_escape_cancels_drawing(desktop_result):
    r = desktop_result
    assert r["after_escape"] == r["after_double_click"]  # nothing added or replaced
    assert r["vertices_after_escape"] == 0
    assert r["tool_active_after_escape"] is False
    assert r["band_points_after_escape"] == 0
    assert r["dialogs_after_escape"] == 0


def test_marks_go_into_a_reference_layer_with_their_class(desktop_result):
    r = desktop_result
    assert r["mark_tool_active"] and r["mark_tool_stays_on"]
    assert r["green_action_unchecked"]  # the two mark actions are exclusive
    assert r["reference_layers"] == 1
    assert r["reference_source"] == f"{r['workdir']}/ugs_reference.gpkg"
    assert r["reference_crs"] == "EPSG:25830"  # the canvas CRS
    assert r["classes_after_marking"] == [0, 1, 1]


def test_undo_removes_the_last_mark_from_the_file(desktop_result):
    r = desktop_result
    assert r["undo"] is True
    assert r["classes_on_disk_after_undo"] == [1, 1]
    assert r["mark_tool_after_escape"] is False


def test_finetune_button_opens_the_dialog_prefilled(desktop_result):
    r = desktop_result
    dialog = r["finetune_dialog"]
    assert dialog["algorithm"] == "ugs:finetuneonreference"
    work = r["workdir"]
    assert dialog["params"] == {"INPUT": r["layer_ids"]["raster"],
                                "REFERENCE": r["reference_id"],
                                "MODEL": f"{work}/ugs_round_1.pt",  # the last round's
                                "OUTPUT": f"{work}/ugs_round_2.pt"}


def test_one_click_marks_a_suggested_square(desktop_result):
    mark = desktop_result["suggestion_mark"]
    assert mark == {"added": 1, "same_square": True, "class": 1, "suggestion_class": 1,
                    "vertices_left": 0}
    check = desktop_result["check_mark"]
    # The check square's mark says so; every mark before it (drawn by hand or a
    # suggested place) says it is not one.
    assert check["class"] == 0 and check["check"] == 1
    assert check["marks"][:-1] and set(check["marks"][:-1]) == {0}


def test_dependency_installer_and_diagnostics_in_the_desktop(desktop_result):
    dialog = desktop_result["install_dialog"]
    assert dialog["title"] == "Install deep-learning dependencies"
    assert dialog["mapping_default"] and "ONNX Runtime" in dialog["levels"][0]
    assert "PyTorch" in dialog["levels"][1]
    from ugs_plugin.core.config import CPU_DEFAULTS
    from ugs_plugin.core.model.engines import cpu_family
    assert "OpenVINO" in dialog["levels"][2]
    assert dialog["fast_default"] == (
        CPU_DEFAULTS.get(cpu_family(), ("",))[0] == "openvino")
    assert desktop_result["install_action"] == "Install deep-learning dependencies…"
    assert desktop_result["diagnostics_on_clipboard"]
    assert desktop_result["diagnostics_first_line"].startswith("QGIS 3.")


def zip_desktop(tmp_path, with_dependencies):
    """QGIS under Xvfb with the plugin installed from its zip in a fresh profile."""
    import sys
    sys.path.insert(0, str(REPO / "scripts"))
    import package
    from qgis_profile import zip_profile
    env, plugins = zip_profile(tmp_path / "qgis", package.build(tmp_path / "dist"))
    env.pop("QT_QPA_PLATFORM")  # a real (virtual) screen
    if not with_dependencies:  # as a QGIS whose own Python has no engine
        env["PYTHONPATH"] = hiding(tmp_path / "hidden", "torch", "onnxruntime")
    out = tmp_path / "result.json"
    env.update(UGS_GUI_RESULT=str(out), UGS_GUI_RASTER=str(SAMPLE_SCENE))
    if with_dependencies:
        screenshot = REPO / "build" / "zip_desktop_canvas.png"
        screenshot.parent.mkdir(exist_ok=True)
        env.update(UGS_PYTHON_PATH=str(REPO / ".venv"),
                   UGS_GUI_MAP=str(tmp_path / "green.tif"),
                   UGS_GUI_SCREENSHOT=str(screenshot))
    subprocess.run(["xvfb-run", "-a", "qgis", "--noversioncheck", "--nologo", "--code",
                    str(REPO / "tests" / "gui" / "zip_check.py")], env=env,
                   timeout=300, capture_output=True)
    assert out.exists(), "QGIS did not run the zip check"
    result = json.loads(out.read_text())
    assert "error" not in result, result["error"]
    assert str(plugins) in result["plugin_dir"]  # the unzipped copy, not this checkout
    assert result["provider"] and result["algorithms"] == 13
    assert result["reloaded"] and result["provider_after_reload"] and result["unloaded"]
    return result


def test_zip_install_without_dependencies_offers_the_installer(tmp_path):
    result = zip_desktop(tmp_path, with_dependencies=False)
    assert result["dependency_message"] and "ONNX Runtime" in result["dependency_message"]
    assert any("ONNX Runtime" in m for m in result["messages"])


def test_zip_install_with_dependencies_maps_and_styles_the_result(tmp_path):
    from PIL import Image
    result = zip_desktop(tmp_path, with_dependencies=True)
    assert result["dependency_message"] is None
    assert "Green space" in result["layers"], result["layers"]
    assert result["layers"]["Green space"] == "paletted"
    image = Image.open(REPO / "build" / "zip_desktop_canvas.png").convert("RGB")
    colours = image.getcolors(1 << 20)
    green = sum(n for n, (r, g, b) in colours if g > 120 and g > r + 40 and g > b + 40)
    assert green > 0.02 * image.width * image.height  # the map is on the canvas

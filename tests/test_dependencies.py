"""QGIS's own Python (no venv) finds PyTorch through the documented folders."""
import subprocess

from conftest import REPO

SYSTEM_PYTHON = "/usr/bin/python3"
PROBE = ("import sys; sys.path.insert(0, {repo!r}); "
         "from ugs_plugin.dependencies import ensure_torch; "
         "ok, msg = ensure_torch({plugin_dir!r}); print(ok); print(msg)")


def probe(plugin_dir, env_path=None):
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    if env_path:
        env["UGS_PYTHON_PATH"] = env_path
    code = PROBE.format(repo=str(REPO), plugin_dir=str(plugin_dir))
    return subprocess.run([SYSTEM_PYTHON, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120).stdout.splitlines()


def system_python_has_torch():
    return subprocess.run([SYSTEM_PYTHON, "-c", "import torch"],
                          capture_output=True).returncode == 0


def test_found_through_the_environment_variable(tmp_path):
    venv = REPO / ".venv"
    out = probe(tmp_path, str(venv))
    assert out[0] == "True" and out[1].startswith("2.")


def test_found_in_the_plugin_folder_venv():
    out = probe(REPO)
    assert out[0] == "True"


def test_torch_can_train_from_the_system_python():
    """An optimizer step imports torch's sympy helpers: the venv's sympy must be the
    one loaded, not Debian's older copy (which breaks it)."""
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); "
            "from ugs_plugin.dependencies import ensure_torch; "
            f"assert ensure_torch({str(REPO)!r})[0]; "
            "import os, torch, sympy; p = torch.nn.Parameter(torch.ones(2)); "
            "opt = torch.optim.SGD([p], lr=0.1); p.sum().backward(); opt.step(); "
            "print(os.path.dirname(os.path.dirname(sympy.__file__)), "
            "os.path.dirname(os.path.dirname(torch.__file__)), float(p[0]))")
    done = subprocess.run([SYSTEM_PYTHON, "-c", code],
                          env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-1500:]
    sympy_site, torch_site, value = done.stdout.split()
    # sympy from torch's own site (the venv's pip torch, or Debian's python3-torch)
    assert sympy_site == torch_site and abs(float(value) - 0.9) < 1e-6


def test_missing_torch_explains_how_to_install(tmp_path):
    if system_python_has_torch():
        import pytest
        pytest.skip("this machine's system Python has torch installed globally")
    out = probe(tmp_path)
    assert out[0] == "False"
    assert "UGS_PYTHON_PATH" in out[1] and "pip install torch" in out[1]

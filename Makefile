# The README's two commands: `make demo` and `make test`. Both set up on first use.
PY := .venv/bin/python

.PHONY: demo test test-ltr setup bench package clean

.venv/.setup-done: scripts/setup.sh
	bash scripts/setup.sh

setup: .venv/.setup-done

demo: .venv/.setup-done
	$(PY) scripts/demo.py

# TIER=core|processing|qgis_process|desktop|network (or a -m expression) runs a part.
TIER ?=
test: .venv/.setup-done
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q tests $(if $(TIER),-m "$(TIER)")

# The same suite on QGIS 3.44 LTR (Debian 13 chroot under /var/tmp; built on first use).
test-ltr:
	bash scripts/qgis_ltr.sh test $(if $(TIER),TIER="$(TIER)")

bench: .venv/.setup-done
	$(PY) benchmarks/bench_predict.py

package:
	/usr/bin/python3 scripts/package.py

clean:
	rm -rf demo_output build dist .pytest_cache

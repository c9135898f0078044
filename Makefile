# The README's two commands: `make demo` and `make test`. Both set up on first use.
PY := .venv/bin/python

.PHONY: demo test setup bench package clean

.venv/.setup-done: scripts/setup.sh
	bash scripts/setup.sh

setup: .venv/.setup-done

demo: .venv/.setup-done
	$(PY) scripts/demo.py

test: .venv/.setup-done
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q tests

bench: .venv/.setup-done
	$(PY) benchmarks/bench_predict.py

package:
	/usr/bin/python3 scripts/package.py

clean:
	rm -rf demo_output build dist .pytest_cache

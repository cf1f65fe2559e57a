# nodkit — quick start: `make demo`, then `make test`.
PYTHON ?= python3
VENV   ?= .venv
KIT    ?= demo-kit
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test install clean bench

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,postgres]'
	touch $(STAMP)

install: $(STAMP)

## demo: create a demo kit ($(KIT)) with synthetic data, export once, print files and passwords
demo: $(STAMP)
	@if [ -e "$(KIT)/nodkit.toml" ]; then echo "$(KIT) exists; exporting again (rm -rf $(KIT) $(KIT)-kilder for a fresh demo)"; \
		$(BIN)/nodkit export --kit "$(KIT)"; \
	else $(BIN)/nodkit demo "$(KIT)"; fi

## test: the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## bench: benchmark the export on synthetic data (SCALE=copenhagen|small|tiny; docs/performance.md)
SCALE ?= copenhagen
bench: $(STAMP)
	$(BIN)/python -m bench --scale $(SCALE) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# nodkit — quick start: `make demo`, then `make test`.
PYTHON ?= python3
VENV   ?= .venv
KIT    ?= demo-kit
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo demo-fleet test install clean bench

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

## demo-fleet: an exporter served over HTTP on loopback and two print stations syncing from it ($(FLEET))
FLEET ?= demo-fleet
demo-fleet: $(STAMP)
	@if [ -e "$(FLEET)" ]; then echo "$(FLEET) exists; remove it for a fresh fleet demo (rm -rf $(FLEET))"; exit 1; fi
	$(BIN)/nodkit demo --fleet "$(FLEET)"

## test: the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## bench: benchmark the export on synthetic data (SCALE=copenhagen|small|tiny; docs/performance.md)
SCALE ?= copenhagen
bench: $(STAMP)
	$(BIN)/python -m bench --scale $(SCALE) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# The two commands of the set-up contract: `make demo` and `make test`.
# Each bootstraps .venv from the pinned requirements and installs the Debian tools the tests use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo_output

.PHONY: demo test lint typecheck unit venv system-tools clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: the CPU build on disk, never a CUDA build pulled by a range.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# dciodvfy validates the DICOM we write; chromium renders the HTML report in tests;
# orthanc (a real PACS, with its DICOMweb plugin for STOW-RS) and dcmtk (storescu, a real sender) face
# the DICOM node in its tests.
system-tools:
	@missing=""; \
	command -v dciodvfy >/dev/null 2>&1 || missing="$$missing dicom3tools"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v Orthanc >/dev/null 2>&1 || missing="$$missing orthanc"; \
	command -v storescu >/dev/null 2>&1 || missing="$$missing dcmtk"; \
	test -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so || missing="$$missing orthanc-dicomweb"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) system-tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck unit

demo: $(STAMP)
	$(BIN)/radiomicgan demo --out $(DEMO_OUT) --overwrite

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

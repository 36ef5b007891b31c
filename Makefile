# Two commands do everything on a fresh machine:
#   make serve   create .venv, install, export the ONNX graphs once, start the REST service on 127.0.0.1:8000
#   make test    create/reuse .venv, install, run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install serve test bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/safety prepare
	$(BIN)/safety serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/text_latency.py
	$(BIN)/python bench/text_throughput.py
	$(BIN)/python bench/image_throughput.py --batch-size 16
	$(BIN)/python bench/crossmodal_latency.py --calls 100 --warmup 10 --batch-size 16
	$(BIN)/python bench/serving.py
	$(BIN)/python bench/load_test.py
	$(BIN)/python bench/compress_text.py
	$(BIN)/python bench/compress_image.py
	SAFETY_BUNDLE=offline-torch $(BIN)/python bench/serving.py --out bench/results/serving_torch.json

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

# Loopbaancoach: `make run` and `make test` set up whatever is missing, then run.
# Every setup step is a file target, so a second run with nothing changed is quick.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
RASA        := $(VENV)/bin/rasa
STEP        := scripts/step.sh
NLP_PKG     := nlp/dist/nl_loopbaan_sm-0.1.0.tar.gz
MODEL       := models/loopbaancoach.tar.gz
DEPS_STAMP  := $(VENV)/.deps-installed
NLP_STAMP   := $(VENV)/.nlp-installed
MODEL_INPUTS := config.yml domain.yml $(wildcard data/nlu/*.yml data/core/*.yml) \
                $(NLP_STAMP)

export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONDONTWRITEBYTECODE := 1
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

.PHONY: help setup secrets signal-model run demo test browser bench train nlp-model nlp-eval eval eval-nlu lint db-upgrade clean

help:
	@echo "make run    set up what is missing, then start Rasa (:5005), actions (:5055), portal (:8080)"
	@echo "make test   set up what is missing, then run the whole test suite"
	@echo "make setup  only the setup part"
	@echo "make demo   fill the database with a demo school (students, flags, plans) and print the logins"
	@echo "make bench  run the benchmarks in bench/"
	@echo "make eval   evaluation figures: Dutch pipeline, NLU, signals, competencies"

setup: $(DEPS_STAMP) $(NLP_STAMP) $(MODEL) db-upgrade secrets signal-model
	@echo "==> setup complete"

# The learned signal model, fitted once into var/cache (later runs find it there in a moment).
signal-model: $(NLP_STAMP)
	@$(STEP) "fit the signal model (first time: ~1 min)" $(PY) -m bot.text.signal_model

# Rasa's API token and the action-server secret, generated once into var/ (mode 0600)
# unless RASA_API_TOKEN / ACTION_SERVER_SECRET are set.
secrets: $(DEPS_STAMP)
	@$(PY) -m bot.cli secrets

$(VENV)/bin/python:
	@$(STEP) "create .venv (Python 3.10)" bash -c 'PY=$$(scripts/find_python310.sh) && "$$PY" -m venv $(VENV)'

$(DEPS_STAMP): $(VENV)/bin/python pyproject.toml constraints.txt
	@$(STEP) "install dependencies (first time: ~4 min)" bash -c '\
	  $(PY) -m pip install --disable-pip-version-check -q "pip==24.0" && \
	  $(PY) -m pip install --disable-pip-version-check -q -c constraints.txt -e ".[dev]"'
	@touch $@

$(NLP_STAMP): $(NLP_PKG) $(DEPS_STAMP)
	@$(STEP) "install the Dutch spaCy pipeline nl_loopbaan_sm" \
	  $(PY) -m pip install --disable-pip-version-check -q --no-deps --force-reinstall \
	  --no-build-isolation $(NLP_PKG)
	@touch $@

# Rasa's training cache keys the spaCy pipeline by name only: after a new pipeline is
# installed, --force makes it recompute the features instead of reusing stale ones.
$(MODEL): $(MODEL_INPUTS) $(DEPS_STAMP)
	@$(STEP) "train the Rasa model (~7-10 min on 2 cores)" \
	  $(RASA) train --config config.yml --domain domain.yml --data data/nlu data/core \
	  --out models --fixed-model-name loopbaancoach $(if $(filter $(NLP_STAMP),$?),--force,)
	@touch $@

train: $(MODEL)

db-upgrade: $(DEPS_STAMP)
	@$(STEP) "database schema (alembic upgrade head)" $(PY) -m bot.cli db upgrade

run: setup
	@$(PY) -m bot.cli run

demo: setup
	@$(PY) -m bot.demo

test: setup browser
	@scripts/run_tests.sh

# Chromium for the browser tests: found, or installed (Debian, when permitted), or a clear stop;
# the tools the tests run in their own venvs (Schemathesis, Synapse for the Matrix tests).
browser:
	@scripts/ensure_chromium.sh
	@scripts/ensure_schemathesis.sh
	@scripts/ensure_synapse.sh

lint: $(DEPS_STAMP)
	$(VENV)/bin/ruff check .

bench: setup
	@$(PY) -m bench

# Retrain the Dutch spaCy pipeline from the UD data in nlp/ud-dutch (about 20-30 min).
nlp-model: $(DEPS_STAMP)
	@$(STEP) "train the Dutch spaCy pipeline" $(PY) nlp/build.py all
	@rm -f $(NLP_STAMP) && $(MAKE) --no-print-directory $(NLP_STAMP)

nlp-eval: $(NLP_STAMP)
	@$(PY) nlp/build.py evaluate

eval-nlu: setup
	@scripts/eval_nlu.sh

eval: nlp-eval eval-nlu
	@$(PY) -m bot.cli eval signals
	@$(PY) -m bot.cli eval competencies

clean:
	rm -rf models var/log reports results

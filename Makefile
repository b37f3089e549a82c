# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check lock clean prometheus java

# The lock: exact versions with their hashes. requirements/dev.txt is everything `make run`
# and `make test` need (the package's extras dev, embedded, observability and bench), so a
# checkout and CI test the versions the image runs: requirements/runtime.txt, the runtime
# dependencies alone, resolved to the same versions.
LOCKED_EXTRAS := dev embedded observability bench
COMPILE = $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --upgrade --quiet --custom-compile-command "make lock"

$(STAMP): pyproject.toml requirements/dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	@$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; \
	  echo "requirements/dev.txt does not hold what pyproject.toml asks for: run 'make lock'"; \
	  exit 1; }
	touch $(STAMP)

# Refresh the lock to the newest versions pyproject.toml allows; commit both files.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q 'uv>=0.5'
	$(COMPILE) $(addprefix --extra ,$(LOCKED_EXTRAS)) -o requirements/dev.txt
	$(COMPILE) --constraint requirements/dev.txt -o requirements/runtime.txt

run: $(STAMP)
	$(BIN)/cxone-router dev --demo

# The Apache Kafka half and the rest run at once (tests/run-halves.sh); `pytest` alone runs
# the whole suite in one process, `CXR_TEST_BROKERS=embedded pytest` one half.
test: $(STAMP) prometheus java
	PYTHON=$(BIN)/python tests/run-halves.sh

# The observability tests run a real Prometheus and Alertmanager; they are system packages,
# not Python ones.
prometheus:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null \
	  && { command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null; } \
	  && command -v amtool >/dev/null || { \
	  echo "make test needs Prometheus (prometheus and promtool) and Alertmanager" \
	       "(alertmanager and amtool): on Debian or Ubuntu run 'sudo apt-get install" \
	       "prometheus prometheus-alertmanager' (.ci/run does it itself), or put the" \
	       "binaries from https://prometheus.io/download/ on the PATH"; exit 1; }

# Half of the integration suite and the fault drills run on Apache Kafka, whose broker's
# jars Maven fetches once (pipeline/kafka/apache-kafka.pom.xml) into .cxr/.
java:
	@command -v java >/dev/null && command -v mvn >/dev/null || { \
	  echo "make test needs Java 17+ and Maven for its Apache Kafka cluster: on Debian or" \
	       "Ubuntu run 'sudo apt-get install openjdk-17-jre-headless maven' (.ci/run does" \
	       "it itself)"; exit 1; }

# mypy finds modules by path, not through the editable install's import hook: it reads the
# package as installed, `cxone_router` (pipeline/) with `cxone_router/agents` (agents/), from
# a tree of links in .cxr/typecheck.
TYPECHECK := .cxr/typecheck/cxone_router
check: $(STAMP)
	$(BIN)/ruff check pipeline agents tests
	rm -rf $(TYPECHECK) && mkdir -p $(TYPECHECK)
	for entry in pipeline/*; do ln -s "$$PWD/$$entry" $(TYPECHECK)/; done
	ln -s "$$PWD/agents" $(TYPECHECK)/agents
	MYPYPATH=.cxr/typecheck $(BIN)/mypy -p cxone_router

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

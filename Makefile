# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check clean prometheus java

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	touch $(STAMP)

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

check: $(STAMP)
	$(BIN)/ruff check pipeline agents tests
	$(BIN)/mypy pipeline agents

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

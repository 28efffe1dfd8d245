"""Reads a Prometheus text exposition (format 0.0.4) on stdin with the Prometheus project's
own Python parser, prometheus_client.parser.text_string_to_metric_families, and prints what it
read as JSON: [{"name", "type", "help", "samples": [{"name", "labels", "value"}]}]. A value
that is not finite is printed as its text ("inf", "nan"). Exits non-zero when the text does
not parse. The end-to-end tests (tests/tests/e2e/metrics.rs) run it."""

import json
import math
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit(
        "prometheus_client is missing from tests/clients/.venv: run scripts/install-test-clients"
    )


def value(v):
    return v if math.isfinite(v) else str(v)


families = [
    {
        "name": f.name,
        "type": f.type,
        "help": f.documentation,
        "samples": [
            {"name": s.name, "labels": s.labels, "value": value(s.value)}
            for s in f.samples
        ],
    }
    for f in text_string_to_metric_families(sys.stdin.read())
]
json.dump(families, sys.stdout)

#!/usr/bin/env python3
"""Validate CycloneDX 1.6 JSON files strictly (the schema validator of cyclonedx-python-lib)."""
import sys

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

validator = JsonStrictValidator(SchemaVersion.V1_6)
bad = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        err = validator.validate_str(f.read())
    if err is not None:
        print(f"{path}: INVALID: {err}")
        bad += 1
    else:
        print(f"{path}: valid CycloneDX 1.6")
sys.exit(1 if bad or not sys.argv[1:] else 0)

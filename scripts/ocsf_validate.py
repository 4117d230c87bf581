"""Validate OCSF events against the published OCSF schema, independently of
delegraph: the JSON Schemas come from the `ocsf-json-schema` package (PyPI),
which builds them from the OCSF project's own schema exports, and
`jsonschema` (PyPI) checks each event.

Usage: ocsf_validate.py FILE...   (JSON lines, `-` for standard input)

Each event is checked against its own `metadata.version`, `class_uid` and
`metadata.profiles`. Prints one JSON object: how many events were checked,
by class and version, and every invalid one with its line and errors.
Exits 1 when any event is invalid or a file holds none.
"""

import json
import sys

from jsonschema import Draft202012Validator
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

_schemas = {}
_validators = {}


def validator(version, class_uid, profiles):
    key = (version, class_uid, profiles)
    if key not in _validators:
        if version not in _schemas:
            _schemas[version] = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=version))
        schema = _schemas[version]
        name = schema.lookup_class_name_from_uid(class_uid=class_uid)
        _validators[key] = Draft202012Validator(
            schema.get_class_schema(class_name=name, profiles=list(profiles))
        )
    return _validators[key]


def check(event):
    meta = event.get("metadata") or {}
    version = meta.get("version")
    if not isinstance(version, str):
        return ["metadata.version is missing"]
    class_uid = event.get("class_uid")
    if not isinstance(class_uid, int):
        return ["class_uid is missing"]
    profiles = tuple(sorted(meta.get("profiles") or []))
    v = validator(version, class_uid, profiles)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(event)'}: {e.message}"
        for e in v.iter_errors(event)
    ]


def main(paths):
    checked = 0
    by_class = {}
    invalid = []
    for path in paths:
        stream = sys.stdin if path == "-" else open(path, encoding="utf-8")
        with stream:
            for n, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                event = json.loads(line)
                errors = check(event)
                checked += 1
                label = f"{event.get('class_uid')}@{(event.get('metadata') or {}).get('version')}"
                by_class[label] = by_class.get(label, 0) + 1
                if errors:
                    invalid.append({"file": path, "line": n, "errors": errors[:20]})
    print(json.dumps({"checked": checked, "classes": by_class, "invalid": invalid}))
    return 1 if invalid or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

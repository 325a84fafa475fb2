"""Validates auditlog-shim export OCSF lines against the OCSF schema, with code we did not write:
the schema server's export of OCSF 1.1.0 as ocsf-json-schema ships it, turned by that package into
a JSON Schema (draft 2020-12) per class, checked by jsonschema. Reads lines on stdin; prints one
JSON object per line (position, class_uid), or exits 1 naming every line that does not validate and
why. Usage: ocsf_validate.py"""

import json
import sys

from jsonschema import Draft202012Validator
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

VERSION = "1.1.0"


def main():
    ocsf = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=VERSION))
    validators = {}
    faults = []
    for n, line in enumerate(sys.stdin, 1):
        event = json.loads(line)
        uid = event.get("class_uid")
        if uid not in validators:
            schema = ocsf.get_class_schema(ocsf.lookup_class_name_from_uid(uid))
            validators[uid] = Draft202012Validator(schema)
        errors = sorted(validators[uid].iter_errors(event), key=lambda e: list(e.path))
        for e in errors:
            faults.append(f"line {n} (class {uid}): {'/'.join(map(str, e.path)) or '.'}: {e.message}")
        if event.get("metadata", {}).get("version") != VERSION:
            faults.append(f"line {n}: metadata.version is not {VERSION}")
        print(json.dumps({"position": event["metadata"]["sequence"], "class_uid": uid}))
    if faults:
        sys.exit("\n".join(faults[:50]))


main()

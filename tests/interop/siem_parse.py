"""Parses auditlog-shim export lines with parsers we did not write: pycef for CEF, and
syslog-rfc5424-parser for RFC 5424 syslog. Reads lines on stdin; prints one JSON object per line
with what the line says of the event's place in the log, or exits 1 naming a line that does not
parse. cef-syslog: CEF lines carried as the messages of RFC 5424 ones (export --syslog-tcp
--format cef). Usage: siem_parse.py cef|syslog|cef-syslog"""

import json
import sys

import pycef
from syslog_rfc5424_parser import SyslogMessage


def cef(line):
    d = pycef.parse(line)
    if d is None:
        raise ValueError("not CEF")
    return {"position": int(d["position"]), "tree_size": int(d["tree_size"]),
            "integrity_hash": d["integrity_hash"], "event_id": d["externalId"],
            "event_type": d["DeviceEventClassID"], "event_data": json.loads(d["msg"])}


def syslog(line):
    m = SyslogMessage.parse(line)
    sd = m.sd["auditlog@32473"]
    return {"position": int(sd["position"]), "tree_size": int(sd["tree_size"]),
            "integrity_hash": sd["integrity_hash"], "event_id": sd["event_id"],
            "event_type": m.msgid, "event_data": json.loads(m.msg)}


def cef_syslog(line):
    m = SyslogMessage.parse(line)
    d = cef(m.msg)
    if m.msgid != d["event_type"]:
        raise ValueError(f"MSGID {m.msgid} is not the CEF line's event type")
    return d


def main():
    parse = {"cef": cef, "syslog": syslog, "cef-syslog": cef_syslog}[sys.argv[1]]
    for n, line in enumerate(sys.stdin, 1):
        try:
            print(json.dumps(parse(line.rstrip("\n"))))
        except Exception as e:  # noqa: BLE001 - any failure is the line's
            sys.exit(f"line {n} does not parse as {sys.argv[1]}: {e!r}: {line!r}")


main()

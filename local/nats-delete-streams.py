#!/usr/bin/env python3
"""Deletes the JetStream streams of the given bus prefixes: the ones over the subjects
<prefix>.>, whatever the topics are. Speaks the NATS protocol directly, so the scripts that
call it need no NATS client.

    local/nats-delete-streams.py HOST PORT PREFIX...
"""
import json, socket, sys
host, port, *prefixes = sys.argv[1:]
conn = socket.create_connection((host, int(port)), timeout=5)
reader = conn.makefile("rb")
reader.readline()  # INFO
inbox = "_INBOX.airlock_delete_streams"
conn.sendall(f'CONNECT {{"verbose":false}}\r\nSUB {inbox} 1\r\n'.encode())
def request(subject, body=b""):
    conn.sendall(f"PUB {subject} {inbox} {len(body)}\r\n".encode() + body + b"\r\n")
    while True:
        line = reader.readline()
        if not line:
            sys.exit("connection closed")
        if line.startswith(b"MSG"):
            return json.loads(reader.read(int(line.split()[-1]) + 2))
        if line.startswith(b"PING"):
            conn.sendall(b"PONG\r\n")
        elif line.startswith(b"-ERR"):
            sys.exit(line.decode().strip())
# A prefix's streams are the ones over its subjects (<prefix>.<topic>), whatever the topics are.
for prefix in prefixes:
    found = request("$JS.API.STREAM.NAMES", json.dumps({"subject": f"{prefix}.>"}).encode())
    for name in found.get("streams") or []:
        request(f"$JS.API.STREAM.DELETE.{name}")

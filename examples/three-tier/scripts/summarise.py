"""A command task: reads the payload as JSON on stdin, prints progress lines (they stream into the job log), and
prints its result as JSON on the last line."""
import json
import sys
import time

payload = json.load(sys.stdin)
values = payload.get("values", [1, 2, 3])
for i, v in enumerate(values, 1):
    print(f"summarising value {i}/{len(values)}", flush=True)
    time.sleep(float(payload.get("delay", 0.05)))
if payload.get("fail"):
    print("asked to fail", file=sys.stderr, flush=True)
    sys.exit(2)
print(json.dumps({"count": len(values), "sum": sum(values), "mean": sum(values) / len(values) if values else None}))

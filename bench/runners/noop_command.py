"""The same no-op as a command task: a fresh python3 per job reads its payload on stdin and prints null."""
import json
import sys

json.load(sys.stdin)
print("null")

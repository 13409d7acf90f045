"""Sends a trace with Celery's own client for bench/celery.ts: stdin is JSON {"start": epoch seconds, "tasks":
[[t, task_no, seconds, priority], ...]}; each task is sent at start + t, and a "sent" line is recorded first in the file
CELERY_RECORD names (beside the fixture task's start and end lines), so that its queue wait is measured from then."""
import json
import os
import sys
import time

from celery_fixture import work

plan = json.load(sys.stdin)
for t, task_no, seconds, priority in plan['tasks']:
    delay = plan['start'] + t - time.time()
    if delay > 0:
        time.sleep(delay)
    with open(os.environ['CELERY_RECORD'], 'a') as f:
        f.write(json.dumps({'task': task_no, 'what': 'sent', 't': time.time()}) + '\n')
    work.apply_async((task_no, seconds), queue='shap', priority=priority)
print('sent', len(plan['tasks']), flush=True)

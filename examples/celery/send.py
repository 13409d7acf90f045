"""Sends tasks with Celery's own client, as the team's web app would: `python3 send.py [N]`.

Half explanations (some with a priority), half estimates, of 0.5 to 3 s each. The broker is CELERY_BROKER_URL, or the
Redis broker of trireme.yml.
"""
import os
import random
import sys

os.environ.setdefault('CELERY_BROKER_URL', 'redis://127.0.0.1:6379/0')
from tasks import estimate, explain  # noqa: E402 (the broker must be set before the app is made)

n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
rng = random.Random(21)
for i in range(n):
    seconds = round(0.5 + rng.random() * 2.5, 2)
    if i % 2:
        estimate.apply_async((seconds,))
    else:
        explain.apply_async(kwargs={'seconds': seconds}, priority=0 if i % 6 == 0 else None)
print(f'sent {n} tasks to {os.environ["CELERY_BROKER_URL"]}')

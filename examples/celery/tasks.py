"""A small Celery app, as a team already runs it: the heavy tier's explanation task and two lighter ones.

Nothing here knows Trireme: Trireme starts these workers (`python3 -m celery -A tasks worker ...`), reads their
queues and their events, and stops idle ones. The broker comes from CELERY_BROKER_URL, which Trireme sets for each
worker from the config's `celery.broker` (and which `send.py` sets for the client).
"""
import hashlib
import math
import time

from celery import Celery

app = Celery('tasks')
app.conf.update(
    # A task whose worker dies (kill -9, a lost node) is delivered again rather than lost: it is acknowledged when
    # it ends, not when it starts. Tasks should then be safe to run twice.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    # One task reserved per free process: a worker does not hoard tasks another could run (Trireme passes it too).
    worker_prefetch_multiplier=1,
    # RabbitMQ: priority queues, so that apply_async(priority=...) is honoured (on Redis, priorities are sub-lists).
    task_queue_max_priority=10,
    task_default_priority=5,
    task_routes={'shap.*': {'queue': 'shap'}, 'causal.*': {'queue': 'causal'}},
)


@app.task(name='shap.explain')
def explain(rows=200, features=30, seconds=None):
    """Something like a SHAP explanation: CPU-bound work over rows x features (or `seconds` of it)."""
    until = time.time() + seconds if seconds is not None else None
    digest = hashlib.sha256()
    n = 0
    while True:
        for r in range(rows):
            value = sum(math.sin(r * f + n) for f in range(features))
            digest.update(repr(value).encode())
        n += 1
        if until is None or time.time() >= until:
            break
    return {'rows': rows * n, 'features': features, 'digest': digest.hexdigest()[:16]}


@app.task(name='causal.estimate')
def estimate(seconds=1.0):
    """A slower, mostly waiting task (a model call, a query)."""
    time.sleep(seconds)
    return {'slept': seconds}

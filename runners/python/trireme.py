"""Trireme's Python runner: loads your task modules once, then runs their tasks one job at a time for as long as
Trireme keeps it, as a Celery prefork child does. It speaks the runner protocol of docs/runners.md: requests on fd 3,
replies on fd 4, one JSON object per line. What your code prints goes to the running job's log.

In the config (`python:` starts this file with `python3`, or with `interpreter:`):

    runners:
      ml: { python: ./ml/tasks.py, tasks: [ml.predict] }

In a task module:

    from trireme import task

    MODEL = load_model()          # once per runner process, before it says ready

    @task("ml.predict")
    def predict(payload, ctx):    # ctx: job_id, task, queue, attempt, workdir, time_limit, log, logger, progress, cancelled
        ctx.log("predicting")
        return {"y": MODEL.predict(payload["x"])}

Standard library only, Python 3.8 or newer: nothing to install.
"""
import importlib
import importlib.util
import inspect
import json
import logging
import os
import queue
import signal
import sys
import threading
import traceback

__all__ = ["task", "Context", "Cancelled", "Unrecoverable"]

REQUEST_FD = 3
REPLY_FD = 4

_tasks = {}
_write_lock = threading.Lock()
_inbox = queue.Queue()
_state = {"ctx": None, "in_task": False, "sending": False, "cancel_pending": False}


class Cancelled(BaseException):
    """Raised inside a task when its job is cancelled (or handed back by a draining replica). A BaseException, like
    KeyboardInterrupt, so that `except Exception:` in a task does not swallow it; `finally:` blocks still run."""


class Unrecoverable(Exception):
    """Raise it to fail the job without the retries it has left (bad input that no retry will fix)."""


def task(name=None):
    """Registers a function as a task: `@task("ml.predict")`, or bare `@task` to use the function's name. The function
    takes (payload, ctx), (payload) or nothing, and returns a JSON-able result; it may be `async def`."""
    def register(fn, task_name):
        if task_name in _tasks and _tasks[task_name][0] is not fn:
            raise ValueError("task %r is registered twice (%s and %s)" % (task_name, _tasks[task_name][0].__qualname__, fn.__qualname__))
        _tasks[task_name] = (fn, _arity(fn))
        return fn
    if callable(name):
        return register(name, name.__name__)
    return lambda fn: register(fn, name or fn.__name__)


def _arity(fn):
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 2
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return 2
    return min(2, sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)))


class Context:
    """What a task knows of its job. `workdir` is the job's folder when storage is configured (uploads in input/,
    write results to output/); `time_limit` the seconds the job has, or None; `cancelled` an Event set on cancel."""

    def __init__(self, run_id, job):
        self._run_id = run_id
        self.job_id = job.get("id")
        self.task = job.get("task")
        self.queue = job.get("queue")
        self.attempt = job.get("attempt", 1)
        self.workdir = job.get("workdir")
        limit = job.get("timeLimit")
        self.time_limit = limit / 1000.0 if limit else None
        self.cancelled = threading.Event()
        self.logger = _job_logger

    def log(self, *parts):
        """Appends a line to the job's log (print() does too)."""
        _send({"t": "log", "id": self._run_id, "line": " ".join(str(p) for p in parts)})

    def progress(self, value):
        """Reports progress: a number (0-100) or a dict."""
        if not isinstance(value, (int, float, dict)) or isinstance(value, bool):
            raise TypeError("progress takes a number or a dict, not %s" % type(value).__name__)
        _send({"t": "progress", "id": self._run_id, "value": value})


class _JobLogHandler(logging.Handler):
    """Records of ctx.logger go to the running job's log; between jobs, to stderr."""

    def emit(self, record):
        try:
            line = self.format(record)
        except Exception:  # a record that cannot be formatted must not fail the task
            line = str(record.msg)
        ctx = _state["ctx"]
        if ctx is not None:
            _send({"t": "log", "id": ctx._run_id, "line": line})
        else:
            sys.stderr.write(line + "\n")


_job_logger = logging.getLogger("trireme.job")
_job_logger.setLevel(logging.INFO)
_job_logger.propagate = False
_handler = _JobLogHandler()
_handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
_job_logger.addHandler(_handler)


def _jsonable(value):
    # numpy arrays and scalars, pandas objects, datetimes, sets: what a model's output is usually made of.
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError("Object of type %s is not JSON serializable" % type(value).__name__)


def _encode(message):
    return (json.dumps(message, default=_jsonable, allow_nan=False, separators=(",", ":")) + "\n").encode("utf-8")


def _send(message):
    _write(_encode(message))


def _write(data):
    main = threading.get_ident() == threading.main_thread().ident
    with _write_lock:
        # A cancel must not cut a line in half: the main thread hears it once the line is out.
        if main:
            _state["sending"] = True
        try:
            view = memoryview(data)
            while view:
                written = os.write(REPLY_FD, view)
                view = view[written:]
        finally:
            if main:
                _state["sending"] = False
    if main and _state["cancel_pending"] and _state["in_task"]:
        _state["cancel_pending"] = False
        raise Cancelled("the job was cancelled")


def _flush_output():
    # Lines printed before the reply must reach the job's log before Trireme settles it (docs/runners.md).
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def _on_cancel_signal(signum, frame):
    if not _state["in_task"]:
        return
    if _state["sending"]:
        _state["cancel_pending"] = True
        return
    raise Cancelled("the job was cancelled")


def _reader():
    """Reads requests while the main thread runs tasks, so that a cancel is heard mid-task."""
    with os.fdopen(REQUEST_FD, "rb", buffering=0) as channel:
        for raw in iter(channel.readline, b""):
            try:
                req = json.loads(raw.decode("utf-8"))
            except ValueError:
                sys.stderr.write("trireme runner: a request that is not JSON: %r\n" % raw[:200])
                continue
            kind = req.get("t")
            if kind == "run":
                _inbox.put(req)
            elif kind == "cancel":
                ctx = _state["ctx"]
                if ctx is not None and ctx._run_id == str(req.get("id")):
                    ctx.cancelled.set()
                    signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
            elif kind == "exit":
                _inbox.put(None)
                return
    # End of file: Trireme is gone (even killed). Leave at once, with whatever this runner started.
    _flush_output()
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os._exit(1)


def _run(req):
    run_id = str(req.get("id"))
    name = req.get("task")
    ctx = Context(run_id, req.get("job") or {})
    entry = _tasks.get(name)
    _state["ctx"] = ctx
    try:
        if entry is None:
            raise Unrecoverable("this runner has no task %r; it has: %s" % (name, ", ".join(sorted(_tasks)) or "none"))
        fn, arity = entry
        args = (req.get("payload"), ctx)[:arity]
        _state["in_task"] = True
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                import asyncio
                result = asyncio.run(_awaited(result))
        finally:
            _state["in_task"] = False
        try:
            reply = _encode({"t": "done", "id": run_id, "result": result})
        except (TypeError, ValueError) as e:
            raise Unrecoverable("the result of %s is not JSON: %s" % (name, e))
        _flush_output()
        _write(reply)
    except BaseException as e:  # noqa: B902 - a task's SystemExit or Cancelled fails its job, not the runner
        _state["in_task"] = False
        _state["cancel_pending"] = False
        _flush_output()
        frames = e.__traceback__
        if frames is not None and frames.tb_frame.f_code is _run.__code__:
            frames = frames.tb_next  # the traceback starts in the task, not in this runner
        tb = "".join(traceback.format_exception(type(e), e, frames))
        _send({"t": "error", "id": run_id, "type": type(e).__name__, "message": str(e), "traceback": tb,
               "retry": not isinstance(e, (Unrecoverable, Cancelled))})
    finally:
        _state["ctx"] = None


async def _awaited(awaitable):
    return await awaitable


def _load(spec):
    if spec.endswith(".py") or "/" in spec or os.sep in spec:
        path = os.path.abspath(spec)
        name = os.path.splitext(os.path.basename(path))[0]
        folder = os.path.dirname(path)
        if folder not in sys.path:
            sys.path.insert(0, folder)  # so the module's sibling imports work
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None:
            raise ImportError("cannot load %s" % path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
    else:
        importlib.import_module(spec)


def main(argv):
    # Task modules say `from trireme import task`: they must get this very module, not a second copy of the file.
    sys.modules["trireme"] = sys.modules[__name__]
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)  # each print() reaches the job's log as it happens
        except AttributeError:
            pass
    if not argv:
        sys.stderr.write("usage: trireme.py MODULE [MODULE ...] (files such as ./tasks.py, or dotted module names)\n")
        return 2
    if os.getcwd() not in sys.path:
        sys.path.insert(1, os.getcwd())
    signal.signal(signal.SIGUSR1, _on_cancel_signal)
    for spec in argv:
        try:
            _load(spec)
        except BaseException:
            sys.stderr.write("trireme runner: cannot load %s:\n%s" % (spec, traceback.format_exc()))
            return 1
    if not _tasks:
        sys.stderr.write("trireme runner: %s registered no task; decorate functions with @task(\"name\") (from trireme import task)\n" % ", ".join(argv))
        return 1
    threading.Thread(target=_reader, name="trireme-channel", daemon=True).start()
    _send({"t": "ready", "tasks": sorted(_tasks)})
    while True:
        req = _inbox.get()
        if req is None:
            return 0
        _run(req)


if __name__ == "__main__":
    code = main(sys.argv[1:])
    _flush_output()
    os._exit(code)

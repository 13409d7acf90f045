"""The warm runner's no-op for bench/runners.ts: the table measures the path through the runner, not the work."""
from trireme import task


@task("bench.pynoop")
def noop(payload):
    return None

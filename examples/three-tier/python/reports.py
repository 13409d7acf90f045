"""The example's reports on the Python runner (runners.reports in trireme.yml): prints progress lines (they stream
into the job log) and returns its summary as the job's result."""
import time

from trireme import task


@task("reports.summarise")
def summarise(payload, ctx):
    values = payload.get("values", [1, 2, 3])
    for i, _ in enumerate(values, 1):
        print("summarising value %d/%d" % (i, len(values)))
        ctx.progress(round(100 * i / len(values)))
        time.sleep(float(payload.get("delay", 0.05)))
    if payload.get("fail"):
        raise ValueError("asked to fail")
    return {"count": len(values), "sum": sum(values), "mean": sum(values) / len(values) if values else None}

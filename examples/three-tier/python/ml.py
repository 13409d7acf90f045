"""The heavy pool's model on the Python runner (runners.ml in trireme.yml). Importing this module takes two seconds,
standing in for loading a model: a warm runner pays it once per process, before its first job (a pool at zero has
its standby pay it while it waits), never once per job."""
import time

from trireme import task

time.sleep(2)  # "loading the model"


@task("ml.predict")
def predict(payload, ctx):
    ms = int(payload.get("ms", 100))
    time.sleep(ms / 1000.0)
    return {"ms": ms}

"""A controller-manager killed (SIGKILL) in the middle of a Job, right after it wrote finished
pods into `status.uncountedTerminatedPods`: after each restart no completion is counted twice
and no pod beyond parallelism is created."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.api import Api
from tests.support.controllers import FAST_FLAGS, ControllerManager
from tests.support.jobs import PodRunner, condition, job_manifest, job_path
from tests.support.processes import Apiserver
from tests.support.waiting import wait_for


def test_killed_mid_job_counts_each_completion_once(
    api: Api, ns: str, apiserver: Apiserver, tmp_path: Path
) -> None:
    kubeconfig = apiserver.write_kubeconfig(tmp_path / "kubeconfig")
    cm = ControllerManager(kubeconfig, tmp_path / "cm.log", [*FAST_FLAGS, "--controllers=job"])
    completions, parallelism = 12, 3
    kills = 0
    try:
        with PodRunner(api, ns, lambda pod: ("Succeeded", 0)) as runner:
            cm.start()
            api.post(
                job_path(ns),
                job_manifest("crash", completions=completions, parallelism=parallelism),
            )
            while kills < 2:

                def uncounted_or_done() -> str | None:
                    job = api.get(job_path(ns, "crash")).json()
                    if condition(job, "Complete"):
                        return "done"
                    status = job.get("status") or {}
                    pending = (status.get("uncountedTerminatedPods") or {}).get("succeeded")
                    return "uncounted" if pending else None

                state = wait_for(
                    uncounted_or_done, "finished pods written as uncounted", 20, interval=0.005
                )
                if state == "done":
                    break
                cm.kill()
                kills += 1
                time.sleep(0.3)  # let the kill land: nothing else may count them meanwhile
                cm.start()
            assert kills >= 1, "the controller-manager was killed at least once mid-Job"
            job = wait_for(
                lambda: (
                    (j := api.get(job_path(ns, "crash")).json()) and condition(j, "Complete") and j
                ),
                "the Job to complete after two kills",
                40,
            )
        assert not runner.errors
        assert job["status"]["succeeded"] == completions, job["status"]
        assert runner.created == completions, "no pod beyond what was needed"
        assert runner.max_active <= parallelism
    finally:
        cm.stop()

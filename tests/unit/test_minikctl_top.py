from minik8s.cli.minikctl.top import capacity_rows


def node(name: str, cpu: str, memory: str, ready: str = "True") -> dict:
    return {
        "metadata": {"name": name},
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [{"type": "Ready", "status": ready}],
        },
    }


def pod(node_name: str, cpu: str, memory: str, phase: str = "Running") -> dict:
    return {
        "spec": {
            "nodeName": node_name,
            "containers": [{"resources": {"requests": {"cpu": cpu, "memory": memory}}}],
        },
        "status": {"phase": phase},
    }


def test_requests_of_running_pods_against_allocatable() -> None:
    rows = capacity_rows(
        [node("b", "2", "4Gi", ready="Unknown"), node("a", "4", "8Gi")],
        [pod("a", "500m", "1Gi"), pod("a", "1", "1Gi"), pod("a", "4", "4Gi", phase="Succeeded"),
         pod("b", "100m", "512Mi")],
    )  # fmt: skip
    assert rows == [
        ["a", "1500m", "37%", "2Gi", "25%", "2/110", "Ready"],
        ["b", "100m", "5%", "512Mi", "12%", "1/110", "Unknown"],
    ]

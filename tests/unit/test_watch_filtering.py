import pytest

from minik8s.apiserver.watch import filtered_type
from minik8s.apiserver.watchcache import CachedEvent


def pod(phase: str) -> dict:
    return {"metadata": {"name": "p"}, "status": {"phase": phase}}


def running(obj: dict) -> bool:
    return obj["status"]["phase"] == "Running"


@pytest.mark.parametrize(
    ("event_type", "previous", "current", "expected"),
    [
        ("ADDED", None, "Running", "ADDED"),
        ("ADDED", None, "Pending", None),
        ("MODIFIED", "Pending", "Running", "ADDED"),
        ("MODIFIED", "Running", "Running", "MODIFIED"),
        ("MODIFIED", "Running", "Failed", "DELETED"),
        ("MODIFIED", "Pending", "Failed", None),
        ("DELETED", "Running", "Running", "DELETED"),
        ("DELETED", "Pending", "Pending", None),
    ],
)
def test_selection_changes_become_added_and_deleted(
    event_type: str, previous: str | None, current: str, expected: str | None
) -> None:
    event = CachedEvent(event_type, 5, pod(current), pod(previous) if previous else None, "default")
    assert filtered_type(event, running) == expected


def test_no_filter_passes_the_type_through() -> None:
    event = CachedEvent("MODIFIED", 5, pod("Failed"), pod("Running"), "default")
    assert filtered_type(event, None) == "MODIFIED"

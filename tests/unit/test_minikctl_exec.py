import pytest

from minik8s.api import errors
from minik8s.cli.minikctl.execstream import exit_code


def test_success_is_zero() -> None:
    assert exit_code({"status": "Success"}) == 0


def test_non_zero_exit_code_comes_from_the_cause() -> None:
    status = {
        "status": "Failure",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": "3"}]},
    }
    assert exit_code(status) == 3


def test_other_failures_are_api_errors() -> None:
    with pytest.raises(errors.ApiError):
        exit_code({"status": "Failure", "reason": "InternalError", "code": 500, "message": "x"})

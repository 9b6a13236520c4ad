from collections.abc import Iterator

import pytest

from tests.support.api import Api
from tests.support.processes import Apiserver


@pytest.fixture()
def api(apiserver: Apiserver) -> Iterator[Api]:
    client = Api(apiserver)
    yield client
    client.close()


@pytest.fixture()
def ns(api: Api) -> Iterator[str]:
    """A namespace of this test's own (its objects are left for the namespace controller)."""
    yield api.namespace()

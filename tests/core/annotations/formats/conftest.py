"""The ``store`` every format test exports: see :func:`samples.sample_store`."""

import pytest

from tests.core.annotations.formats.samples import sample_store


@pytest.fixture
def store():
    return sample_store()

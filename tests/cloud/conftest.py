"""Fixtures of the cloud tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def release_wheel(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The installed version's wheel, built once per session by the code `fleet up` runs
    (``artifacts.build_wheel``: ``pip wheel`` with the fixed SOURCE_DATE_EPOCH, so the same
    bytes a build in `fleet up` makes). Tests whose subject is not the build pass it as
    ``--wheel``; `fleet up` without ``--wheel`` is still run, and compared with this one, by
    test_fleet_up_launch_template_group_and_scaling and
    test_fleet_update_ships_the_release_and_leaves_an_empty_fleet_alone."""
    from transcriber_cli.cloud.artifacts import build_wheel

    return str(build_wheel(Path(tmp_path_factory.mktemp("release-wheel"))))

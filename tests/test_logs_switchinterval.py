"""switchinterval: the GIL switch interval is short while any uploader runs, and then restored."""

from __future__ import annotations

import sys

import pytest

from koji_containerbuild.logs.switchinterval import SwitchInterval


@pytest.fixture
def process_interval():
    saved = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield 0.005
    sys.setswitchinterval(saved)


def test_the_interval_is_shortened_while_one_runs(process_interval):
    interval = SwitchInterval(0.001)
    interval.enter()
    assert sys.getswitchinterval() == pytest.approx(0.001)
    interval.leave()
    assert sys.getswitchinterval() == pytest.approx(process_interval)


def test_the_last_of_two_restores_the_process_s_interval(process_interval):
    interval = SwitchInterval(0.001)
    interval.enter()
    interval.enter()
    interval.leave()
    assert sys.getswitchinterval() == pytest.approx(0.001)
    interval.leave()
    assert sys.getswitchinterval() == pytest.approx(process_interval)


def test_a_process_interval_already_shorter_is_kept(process_interval):
    sys.setswitchinterval(0.0005)
    interval = SwitchInterval(0.001)
    interval.enter()
    assert sys.getswitchinterval() == pytest.approx(0.0005)
    interval.leave()
    assert sys.getswitchinterval() == pytest.approx(0.0005)

"""vaic.gcscope: the collector ignores older objects during a compile and is left as it was after."""
import gc

from vaic.gcscope import young_objects_only


class Node:
    def __init__(self):
        self.me = self            # a reference cycle: only the cyclic collector frees it


def test_old_objects_are_frozen_only_during_the_scope_and_new_garbage_is_collected():
    assert gc.get_freeze_count() == 0
    old = [Node() for _ in range(10)]
    with young_objects_only():
        assert gc.get_freeze_count() > 0
        assert gc.is_tracked(old[0]) and gc.isenabled()
        for _ in range(3):
            Node()                # garbage made during the run ...
        assert gc.collect() >= 3  # ... is still collected
    assert gc.get_freeze_count() == 0 and gc.isenabled()


def test_a_disabled_collector_or_a_callers_freeze_is_left_alone():
    gc.disable()
    try:
        with young_objects_only():
            assert gc.get_freeze_count() == 0 and not gc.isenabled()
    finally:
        gc.enable()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with young_objects_only():
            pass
        assert gc.get_freeze_count() == frozen       # the caller's freeze is kept
    finally:
        gc.unfreeze()


def test_the_scope_ends_on_errors_too():
    try:
        with young_objects_only():
            raise KeyError("x")
    except KeyError:
        pass
    assert gc.get_freeze_count() == 0

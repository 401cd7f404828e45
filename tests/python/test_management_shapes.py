"""Every GET endpoint of the management API (and the answers of POST publish/get, a paged list and a
404) has the fields RabbitMQ's has, with the same JSON types: management_shapes.json, recorded from
RabbitMQ 3.10 by record_management_shapes.py from the same state built here (mgmt.ShapeState).
Extra fields are allowed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mgmt

SHAPES = json.loads(Path(__file__).with_name("management_shapes.json").read_text())["endpoints"]


@pytest.fixture(scope="module")
def shape_state(management, broker):
    state = mgmt.ShapeState(management, broker.params())
    try:
        state.build()
        ctx = mgmt.context(state)
        state.traffic()
        try:  # the state's stats all out; if they never are, the tests below say what is missing
            mgmt.eventually(lambda: mgmt.ready(state, ctx, True), bool, what="stats after traffic")
        except AssertionError:
            pass
        yield state, ctx
    finally:
        state.close()


def test_every_endpoint_is_recorded():
    assert sorted(SHAPES) == sorted(ep.key for ep in mgmt.ENDPOINTS)


@pytest.mark.parametrize("ep", mgmt.ENDPOINTS, ids=lambda ep: ep.key)
def test_management_shape(shape_state, ep):
    state, ctx = shape_state
    shape = SHAPES[ep.key]["shape"]
    assert SHAPES[ep.key]["status"] == ep.status

    def complete(value):
        if ep.pick is not None and "items" in shape and not value:
            return False  # the state's own objects must be in the list
        return not mgmt.missing_fields(value, shape)

    if ep.method == "GET":  # fields RabbitMQ adds at its next stats emission: poll, bounded
        try:
            value = mgmt.eventually(lambda: mgmt.fetch(state, ctx, ep), complete, timeout=10,
                                    what=f"{ep.key} complete")
        except AssertionError:
            value = mgmt.fetch(state, ctx, ep)
    else:
        value = mgmt.fetch(state, ctx, ep)
    if ep.pick is not None and "items" in shape:
        assert value, f"{ep.key}: the state's objects are not in the answer"
    errors = mgmt.shape_errors(value, shape)
    assert not errors, f"{ep.key}: {len(errors)} differences from RabbitMQ:\n" + "\n".join(errors)

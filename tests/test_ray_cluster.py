# SPDX-License-Identifier: MIT
"""A simulated multi-node Ray cluster loses its worker nodes mid-encode: the groups
they were coding are retried elsewhere and the file keeps the local bytes."""

from __future__ import annotations

import dataclasses

import pytest

import framecodec
from helpers import FAST, SAMPLE


def test_nodes_removed_mid_encode_cost_only_retries(tmp_path):
    pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[ray]'; CI "
                                      "installs it)")
    import ray
    from ray.cluster_utils import Cluster

    # groups long enough (seconds each) that removing two nodes (about 1.2 s) finds
    # both coding: with FAST's 40 training steps a group took 0.5 s, the workers had
    # finished theirs before they died, and Ray rescheduled only tasks never started
    # (no retry to count)
    settings = dataclasses.replace(FAST, train_steps=2500)
    local = tmp_path / "local.fcv"
    framecodec.encode(SAMPLE, local, settings=settings, group_size=6)  # 5 groups

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})  # the driver's
    try:
        doomed = [cluster.add_node(num_cpus=1) for _ in range(2)]
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
        lost = []

        def lose_both_nodes(frames: int, written: int) -> None:
            """After the first group, both workers are coding the next ones: they die
            without warning, and a fresh node joins."""
            if not lost:
                for node in doomed:
                    cluster.remove_node(node, allow_graceful=False)
                cluster.add_node(num_cpus=1)
                lost.append(written)

        out = tmp_path / "cluster.fcv"
        result = framecodec.encode(SAMPLE, out, settings=settings, group_size=6, ray=True,
                                   on_group=lose_both_nodes)
        assert lost == [6]
        assert out.read_bytes() == local.read_bytes()
        assert result.run.retries >= 1, result.summary()
        assert result.run.nodes >= 2 and "retr" in result.summary()
    finally:
        ray.shutdown()
        cluster.shutdown()

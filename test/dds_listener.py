"""A test's subscribers to the DDS depth node's outputs, on their own participant: every
message kept per topic, and a wait for one that matches."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from depth_estimation_ros.dds import messages as m
from depth_estimation_ros.dds.qos import TRANSIENT_LOCAL, QosProfile
from depth_estimation_ros.dds.runtime import DdsNode

RELIABLE = QosProfile(reliability="reliable", durability="volatile", depth=20)


class Listener:
    """Subscribers to ``topics`` (key -> (message type, topic)) and, on request, /tf_static
    (kept under ``"tf"``)."""

    def __init__(self, name: str, domain_id: int, topics: Mapping[str, tuple[Any, str]],
                 tf_static: bool = False) -> None:
        self.node = DdsNode(name, domain_id=domain_id)
        self.got: dict[str, list] = {key: [] for key in [*topics, "tf"]}
        self._cond = threading.Condition()
        for key, (msg_type, topic) in topics.items():
            self.node.create_subscription(msg_type, topic, self._keep(key), RELIABLE)
        if tf_static:
            self.subscribe_tf_static()

    def subscribe_tf_static(self) -> None:
        self.node.create_subscription(m.TFMessage, "/tf_static", self._keep("tf"),
                                      TRANSIENT_LOCAL)

    def _keep(self, key: str) -> Callable[[Any], None]:
        def callback(msg: Any) -> None:
            with self._cond:
                self.got[key].append(msg)
                self._cond.notify_all()
        return callback

    def wait(self, key: str, predicate: Callable[[Any], bool] = lambda msg: True,
             timeout: float = 15.0) -> Any:
        """The latest ``key`` message that satisfies ``predicate``; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [msg for msg in self.got[key] if predicate(msg)]
                if found:
                    return found[-1]
                if time.monotonic() > deadline:
                    pytest.fail(f"no {key} message within {timeout} s "
                                f"({len(self.got[key])} others)")
                self._cond.wait(0.05)

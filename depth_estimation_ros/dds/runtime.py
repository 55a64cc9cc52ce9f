"""A small ROS 2-compatible node runtime on Cyclone DDS (no ROS install needed).

One ``DdsNode`` is one DomainParticipant. Publishers and subscriptions use the ROS 2 topic
mapping (``/depth/image`` is DDS topic ``rt/depth/image``) and the ROS 2 DDS type names from
``messages``. Subscription callbacks and timers run on one runtime thread per node, one at a
time (like rclpy's single-threaded executor), never on Cyclone's receive threads: a slow
callback only makes the reader's KEEP_LAST history drop old samples; it never blocks DDS.

``ROS_DOMAIN_ID`` selects the domain and ``CYCLONEDDS_URI`` the Cyclone configuration, as with
rmw_cyclonedds_cpp. ``ensure_cyclonedds_uri()`` points the latter at the shipped loopback
configuration when the user has not set one.
"""

import logging
import math
import os
import re
import site
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

from cyclonedds._clayer import ddspy_take, ddspy_write
from cyclonedds.core import (
    DDSException,
    GuardCondition,
    InstanceState,
    ReadCondition,
    SampleState,
    ViewState,
    WaitSet,
)
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.qos import Policy, Qos
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from depth_estimation_ros.core.reporting import worth_logging
from depth_estimation_ros.dds.messages import (
    PayloadEncoder,
    graph_types,
    ros_type_name,
    type_hash,
)
from depth_estimation_ros.dds.qos import QosProfile, reader_qos, writer_qos

__all__ = [
    "DdsNode",
    "LOOPBACK_CONFIG_NAME",
    "Publisher",
    "Subscription",
    "Timer",
    "TopicNameError",
    "domain_id_from_env",
    "ensure_cyclonedds_uri",
    "loopback_config_path",
    "resolve_topic_name",
]

logger = logging.getLogger(__name__)

GRAPH_TOPIC = "ros_discovery_info"  # DDS topic name as rmw uses it (no "rt/" prefix)
GRAPH_QOS = QosProfile(reliability="reliable", durability="transient_local", depth=1)

PACKAGE = "depth_estimation_ros"
LOOPBACK_CONFIG_NAME = "cyclonedds_loopback.xml"
MAX_DOMAIN_ID = 232  # highest domain id whose UDP ports fit (ROS 2 documents 0..232)
_SPIN_WAKE_S = 0.2  # upper bound on how long the runtime thread sleeps between checks
_TAKE_BATCH = 64
_TOKEN = r"[A-Za-z_][A-Za-z0-9_]*"
_FULL_NAME_RE = re.compile(rf"^(/{_TOKEN})+$")
_NODE_NAME_RE = re.compile(rf"^{_TOKEN}$")

MsgT = TypeVar("MsgT")


class TopicNameError(ValueError):
    """A topic, node or namespace name that ROS 2 would reject."""


# ---------------------------------------------------------------------------------------
# Environment and configuration


def loopback_config_path() -> Path:
    """Path of the shipped ``config/cyclonedds_loopback.xml``.

    Looked up in the source checkout (``<repo>/config``), as package data
    (``depth_estimation_ros/config``), then in the installed share directories
    (``<prefix>/share/depth_estimation_ros/config`` for ``sys.prefix``, the pip user base and
    every ``AMENT_PREFIX_PATH`` entry).

    Raises:
        FileNotFoundError: the file is in none of those places.
    """
    package_dir = Path(__file__).resolve().parents[1]
    candidates = [package_dir.parent / "config" / LOOPBACK_CONFIG_NAME,
                  package_dir / "config" / LOOPBACK_CONFIG_NAME]
    prefixes = [sys.prefix, site.getuserbase(),
                *filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep))]
    for prefix in prefixes:
        share = Path(prefix) / "share" / PACKAGE
        candidates += [share / "config" / LOOPBACK_CONFIG_NAME, share / LOOPBACK_CONFIG_NAME]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"{LOOPBACK_CONFIG_NAME} not found; looked in {', '.join(map(str, candidates))}"
    )


def ensure_cyclonedds_uri() -> str:
    """Set ``CYCLONEDDS_URI`` to the loopback config unless the user already set one.

    Must run before the first ``DdsNode`` of the process is created (Cyclone reads the
    variable when it creates the domain).

    Returns:
        The ``CYCLONEDDS_URI`` value now in effect.
    """
    current = os.environ.get("CYCLONEDDS_URI", "").strip()
    if current:
        return current
    uri = loopback_config_path().as_uri()
    os.environ["CYCLONEDDS_URI"] = uri
    logger.info(f"CYCLONEDDS_URI not set; using the loopback configuration {uri}")
    return uri


def domain_id_from_env() -> int:
    """The DDS domain from ``ROS_DOMAIN_ID`` (0 when unset or empty), as ROS 2 does.

    Raises:
        ValueError: ``ROS_DOMAIN_ID`` is not an integer in 0..232.
    """
    raw = os.environ.get("ROS_DOMAIN_ID", "").strip()
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_DOMAIN_ID:
        raise ValueError(
            f"ROS_DOMAIN_ID={raw!r} is invalid; expected an integer 0..{MAX_DOMAIN_ID}"
        )
    return value


def _normalise_namespace(namespace: str) -> str:
    if namespace in ("", "/"):
        return ""
    ns = namespace if namespace.startswith("/") else f"/{namespace}"
    if not _FULL_NAME_RE.match(ns):
        raise TopicNameError(
            f"namespace {namespace!r} is invalid; expected '/'-separated tokens of letters, "
            "digits and '_' not starting with a digit"
        )
    return ns


def resolve_topic_name(name: str, namespace: str = "", node_name: str = "") -> str:
    """Resolve a ROS topic name to its fully qualified form, like rcl does.

    ``/a/b`` stays; ``a/b`` becomes ``<namespace>/a/b``; ``~/a`` becomes
    ``<namespace>/<node_name>/a``.

    Raises:
        TopicNameError: the name (or the namespace) is not a valid ROS 2 name.
    """
    ns = _normalise_namespace(namespace)
    if name.startswith("~"):
        if not node_name or name not in ("~",) and not name.startswith("~/"):
            raise TopicNameError(f"topic name {name!r} is invalid; '~' must be followed by '/'")
        full = f"{ns}/{node_name}{name[1:]}"
    elif name.startswith("/"):
        full = name
    else:
        full = f"{ns}/{name}"
    if not _FULL_NAME_RE.match(full):
        raise TopicNameError(
            f"topic name {name!r} is invalid; expected '/'-separated tokens of letters, digits "
            "and '_' not starting with a digit, no empty tokens or trailing '/'"
        )
    return full


# ---------------------------------------------------------------------------------------
# Endpoints


class Publisher(Generic[MsgT]):
    """A DataWriter on ``rt/<topic>`` made by ``DdsNode.create_publisher``."""

    def __init__(self, node: "DdsNode", msg_type: type, topic_name: str, qos: QosProfile,
                 topic: Topic) -> None:
        self.msg_type = msg_type
        self.topic_name = topic_name
        self.qos = qos
        self._node = node
        dds_qos = writer_qos(qos, type_hash(msg_type))
        self._writer = DataWriter(node.participant, topic, qos=dds_qos)
        self._destroyed = False
        self.dropped = 0  # reliable writes that timed out
        # Images and clouds: encoded into one reused buffer (see PayloadEncoder); the lock
        # keeps the buffer to one writer between encoding and the DDS write's own copy.
        self._encoder = PayloadEncoder() if PayloadEncoder.supports(msg_type) else None
        self._encode_lock = threading.Lock()

    def publish(self, msg: MsgT) -> bool:
        """Write one message.

        Best effort never blocks. Reliable may block up to 100 ms while a matched reader is
        behind on acknowledgements; if it still is, the message is dropped with a warning.

        Returns:
            True if written, False if a reliable write timed out.

        Raises:
            TypeError: ``msg`` is not an instance of the publisher's message type.
            RuntimeError: the publisher or its node was destroyed.
        """
        if not isinstance(msg, self.msg_type):
            raise TypeError(
                f"publisher on {self.topic_name} expected a {self.msg_type.__name__} message, "
                f"got {type(msg).__name__}"
            )
        if self._destroyed:
            raise RuntimeError(f"publisher on {self.topic_name} was destroyed")
        try:
            self._write(msg)
        except DDSException as exc:
            if exc.code != DDSException.DDS_RETCODE_TIMEOUT:
                raise
            self.dropped += 1
            if worth_logging(self.dropped):
                logger.warning(
                    f"reliable publish on {self.topic_name} timed out (a subscriber is not "
                    f"acknowledging); dropped {self.dropped} message(s) so far"
                )
            return False
        return True

    def _write(self, msg: MsgT) -> None:
        if self._encoder is None:
            self._writer.write(msg)
            return
        with self._encode_lock:
            # what DataWriter.write does after serialising; ddspy_write copies the bytes
            ret = ddspy_write(self._writer._ref,
                              self._encoder.encode(msg, self._writer._use_version_2))
        if ret < 0:
            raise DDSException(ret, f"Occurred while writing sample in {self._writer!r}")

    @property
    def in_place_writes(self) -> int:
        """Messages written without copying their payload (it lay in headroom storage)."""
        return self._encoder.in_place if self._encoder is not None else 0

    def get_subscription_count(self) -> int:
        """Number of matched subscriptions (readers with compatible QoS), any process."""
        if self._destroyed:
            return 0
        return self._writer.get_publication_matched_status().current_count

    def wait_for_subscriptions(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` subscriptions matched; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.get_subscription_count() < count:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def destroy(self) -> None:
        """Delete the DataWriter (remote readers see it go)."""
        if not self._destroyed:
            self._destroyed = True
            self._node._forget(self)
            self._writer.__del__()  # cyclonedds-python has no public delete(); this is it


class Subscription(Generic[MsgT]):
    """A DataReader on ``rt/<topic>`` whose samples go to a callback on the node thread.

    Samples are decoded one by one: one whose bytes do not decode as ``msg_type`` (a peer
    publishing another type under the same name, a non-UTF-8 string) is counted in
    ``undecodable`` and reported to ``on_undecodable(exc)`` (default: a warning, at most one
    per ``_REPEAT_S``); the samples taken with it are delivered as usual.
    """

    _REPEAT_S = 10.0

    def __init__(self, node: "DdsNode", msg_type: type, topic_name: str,
                 callback: Callable[[MsgT], Any], qos: QosProfile, topic: Topic,
                 on_undecodable: Callable[[Exception], Any] | None = None) -> None:
        self.msg_type = msg_type
        self.topic_name = topic_name
        self.qos = qos
        self.callback = callback
        self.on_undecodable = on_undecodable
        self.undecodable = 0  # samples whose bytes did not decode
        self._last_warning = -math.inf
        dds_qos = reader_qos(qos, type_hash(msg_type))
        self._reader = DataReader(node.participant, topic, qos=dds_qos)
        self._condition = ReadCondition(
            self._reader, SampleState.NotRead | ViewState.Any | InstanceState.Alive
        )
        self._node = node
        self._destroyed = False
        self.received = 0  # messages delivered to the callback
        self.callback_errors = 0

    def get_publisher_count(self) -> int:
        """Number of matched publications (writers with compatible QoS), any process."""
        if self._destroyed:
            return 0
        return self._reader.get_subscription_matched_status().current_count

    def wait_for_publishers(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` publications matched; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.get_publisher_count() < count:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def _drain(self) -> None:
        """Take everything available and hand it to the callback (runtime thread only)."""
        while not self._destroyed:
            # the raw samples, decoded here one at a time (DataReader.take decodes the batch
            # in one go, so one bad sample would lose all the others taken with it)
            taken = ddspy_take(self._reader._ref, self._condition.mask, _TAKE_BATCH)
            if isinstance(taken, int):
                raise DDSException(taken, f"taking samples on {self.topic_name}")
            for data, info in taken:
                if not info.valid_data or self._destroyed:
                    continue  # dispose/unregister: no data
                try:
                    sample = self.msg_type.deserialize(data)
                except Exception as exc:
                    self._undecodable(exc)
                    continue
                self.received += 1
                try:
                    self.callback(sample)
                except Exception:  # a user callback must not kill the runtime thread
                    self.callback_errors += 1
                    logger.exception(f"subscription callback on {self.topic_name} raised")
            if len(taken) < _TAKE_BATCH:
                return

    def _undecodable(self, exc: Exception) -> None:
        self.undecodable += 1
        if self.on_undecodable is not None:
            try:
                self.on_undecodable(exc)
            except Exception:
                logger.exception(f"undecodable-sample handler on {self.topic_name} raised")
            return
        now = time.monotonic()
        if now - self._last_warning >= self._REPEAT_S:
            self._last_warning = now
            logger.warning(f"dropped a sample on {self.topic_name} whose bytes do not decode "
                           f"as {ros_type_name(self.msg_type)} ({type(exc).__name__}: {exc}; "
                           f"{self.undecodable} so far)")

    def destroy(self) -> None:
        """Stop callbacks (none starts after this returns) and delete the DataReader."""
        if not self._destroyed:
            self._destroyed = True
            self._node._forget(self)


class Timer:
    """A periodic callback on the node's runtime thread (``DdsNode.create_timer``)."""

    def __init__(self, node: "DdsNode", period_s: float, callback: Callable[[], Any]) -> None:
        if not period_s > 0:
            raise ValueError(f"timer period {period_s!r} s is invalid; expected > 0")
        self.period_s = float(period_s)
        self.callback = callback
        self.next_due = time.monotonic() + self.period_s
        self._node = node
        self.cancelled = False

    def cancel(self) -> None:
        """Stop calling the callback."""
        self.cancelled = True
        self._node._forget(self)


# ---------------------------------------------------------------------------------------
# Node


class DdsNode:
    """A ROS 2-like node: one DomainParticipant, publishers, subscriptions, timers.

    Args:
        name: node name (used for ``~/`` topic names and logging).
        namespace: node namespace; relative topic names resolve against it.
        domain_id: DDS domain; default from ``ROS_DOMAIN_ID`` (else 0).

    Raises:
        TopicNameError: invalid node name or namespace.
        ValueError: invalid ``ROS_DOMAIN_ID``.
    """

    def __init__(self, name: str, namespace: str = "", *, domain_id: int | None = None) -> None:
        if not _NODE_NAME_RE.match(name):
            raise TopicNameError(
                f"node name {name!r} is invalid; expected letters, digits and '_' not "
                "starting with a digit"
            )
        self.name = name
        self.namespace = _normalise_namespace(namespace)
        self.domain_id = domain_id_from_env() if domain_id is None else int(domain_id)
        self.participant = DomainParticipant(
            self.domain_id, qos=Qos(Policy.Userdata(data=b"enclave=/;"))
        )
        self._lock = threading.RLock()
        self._topics: dict[str, tuple[type, Topic]] = {}
        self._publishers: list[Publisher] = []
        self._subscriptions: list[Subscription] = []
        self._timers: list[Timer] = []
        self._graveyard: list[Subscription] = []
        self._waitset = WaitSet(self.participant)
        self._wake = GuardCondition(self.participant)
        self._waitset.attach(self._wake)
        self._stop = threading.Event()
        self._closed = False
        # The ROS graph: what this participant's node reads and writes, on ros_discovery_info
        # (reliable, transient local, depth 1, as rmw publishes it), so `ros2 node list` and
        # `ros2 node info` show this node as they show rmw-based ones.
        self._gid_cls, self._node_info_cls, self._graph_info_cls = graph_types()
        self._graph_writer = DataWriter(
            self.participant, Topic(self.participant, GRAPH_TOPIC, self._graph_info_cls),
            qos=writer_qos(GRAPH_QOS, type_hash(self._graph_info_cls)))
        self._announce()
        self._thread = threading.Thread(target=self._spin, name=f"dds-node-{name}", daemon=True)
        self._thread.start()
        logger.debug(f"node {self.fully_qualified_name} on DDS domain {self.domain_id}")

    @property
    def fully_qualified_name(self) -> str:
        """``<namespace>/<name>``."""
        return f"{self.namespace}/{self.name}"

    def graph_info(self) -> Any:
        """This participant's ``rmw_dds_common/ParticipantEntitiesInfo``: its GID and this
        node with the GIDs (DDS GUIDs) of its subscriptions' readers and publishers'
        writers, in the layout of ``ROS_DISTRO`` (``messages.graph_types``)."""
        size = len(self._gid_cls().data)

        def gid(entity: Any) -> Any:
            return self._gid_cls(data=entity.guid.bytes.ljust(size, b"\0"))

        with self._lock:
            readers = [gid(sub._reader) for sub in self._subscriptions]
            writers = [gid(pub._writer) for pub in self._publishers]
        node = self._node_info_cls(node_namespace=self.namespace or "/", node_name=self.name,
                                   reader_gid_seq=readers, writer_gid_seq=writers)
        return self._graph_info_cls(gid=gid(self.participant), node_entities_info_seq=[node])

    def _announce(self) -> None:
        """Publish :meth:`graph_info` (after every endpoint change)."""
        if self._stop.is_set():
            return  # shutting down: the participant's disappearance tells the graph
        try:
            self._graph_writer.write(self.graph_info())
        except DDSException as exc:  # the graph is informational; never fail the node
            logger.warning(f"could not announce node {self.fully_qualified_name} on "
                           f"{GRAPH_TOPIC}: {exc}")

    def resolve_topic_name(self, name: str) -> str:
        """Fully qualified ROS name of ``name`` for this node."""
        return resolve_topic_name(name, self.namespace, self.name)

    def _topic(self, msg_type: type, full_name: str) -> Topic:
        with self._lock:
            if full_name in self._topics:
                known_type, topic = self._topics[full_name]
                if known_type is not msg_type:
                    raise TypeError(
                        f"topic {full_name} is already used with {ros_type_name(known_type)} in "
                        f"this node; cannot also use {ros_type_name(msg_type)}"
                    )
                return topic
            topic = Topic(self.participant, f"rt{full_name}", msg_type)
            self._topics[full_name] = (msg_type, topic)
            return topic

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"node {self.fully_qualified_name} was destroyed")

    def create_publisher(self, msg_type: type, topic: str, qos: QosProfile) -> Publisher:
        """Create a publisher of ``msg_type`` (a ``messages`` class) on ROS topic ``topic``."""
        self._check_open()
        full = self.resolve_topic_name(topic)
        pub = Publisher(self, msg_type, full, qos, self._topic(msg_type, full))
        with self._lock:
            self._publishers.append(pub)
        self._announce()
        return pub

    def create_subscription(self, msg_type: type, topic: str, callback: Callable[[Any], Any],
                            qos: QosProfile,
                            on_undecodable: Callable[[Exception], Any] | None = None,
                            ) -> Subscription:
        """Subscribe to ROS topic ``topic``; ``callback(msg)`` runs on the node thread, and
        ``on_undecodable(exc)`` for a sample whose bytes do not decode (default: a warning)."""
        self._check_open()
        full = self.resolve_topic_name(topic)
        sub = Subscription(self, msg_type, full, callback, qos, self._topic(msg_type, full),
                           on_undecodable)
        with self._lock:
            self._subscriptions.append(sub)
            self._waitset.attach(sub._condition)
        self._wake.set(True)
        self._announce()
        return sub

    def create_timer(self, period_s: float, callback: Callable[[], Any]) -> Timer:
        """Call ``callback()`` every ``period_s`` seconds on the node thread."""
        self._check_open()
        timer = Timer(self, period_s, callback)
        with self._lock:
            self._timers.append(timer)
        self._wake.set(True)
        return timer

    def _forget(self, entity: Publisher | Subscription | Timer) -> None:
        with self._lock:
            if isinstance(entity, Publisher) and entity in self._publishers:
                self._publishers.remove(entity)
            elif isinstance(entity, Timer) and entity in self._timers:
                self._timers.remove(entity)
            elif isinstance(entity, Subscription) and entity in self._subscriptions:
                self._subscriptions.remove(entity)
                if not self._closed:
                    # The runtime thread may be inside a take() on this reader: it deletes
                    # the reader itself between drains (see _reap).
                    self._graveyard.append(entity)
        if isinstance(entity, Subscription) and not self._closed:
            self._wake.set(True)
        if isinstance(entity, (Publisher, Subscription)) and not self._closed:
            self._announce()

    def _reap(self) -> None:
        """Delete readers of destroyed subscriptions (runtime thread, between drains)."""
        with self._lock:
            dead, self._graveyard = self._graveyard, []
        for sub in dead:
            self._waitset.detach(sub._condition)
            sub._condition.__del__()  # cyclonedds-python has no public delete(); this is it
            sub._reader.__del__()

    def _run_timers(self) -> float:
        """Fire due timers; return seconds until the next one is due."""
        now = time.monotonic()
        with self._lock:
            timers = list(self._timers)
        wait = _SPIN_WAKE_S
        for timer in timers:
            if timer.cancelled:
                continue
            if now >= timer.next_due:
                # Skip missed periods instead of bursting to catch up.
                missed = int((now - timer.next_due) // timer.period_s)
                timer.next_due += (missed + 1) * timer.period_s
                try:
                    timer.callback()
                except Exception:
                    logger.exception(f"timer callback in node {self.name} raised")
            wait = min(wait, max(0.0, timer.next_due - time.monotonic()))
        return wait

    def _spin(self) -> None:
        wait_s = _SPIN_WAKE_S
        while not self._stop.is_set():
            try:
                self._waitset.wait(duration(seconds=wait_s))
                self._wake.take()
                self._reap()
                with self._lock:
                    subs = list(self._subscriptions)
                for sub in subs:
                    if self._stop.is_set():
                        break
                    sub._drain()
                wait_s = self._run_timers()
            except Exception:
                if self._stop.is_set():
                    break
                logger.exception(f"DDS runtime thread of node {self.name} hit an error")
                time.sleep(0.05)

    def spin(self, until: Callable[[], bool] | None = None,
             timeout: float | None = None) -> bool:
        """Block the caller while the runtime thread works (callbacks run there anyway).

        Args:
            until: return once this predicate is true (checked every 10 ms).
            timeout: return after this many seconds.

        Returns:
            True if ``until`` became true, False on timeout or when the node was destroyed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stop.is_set():
            if until is not None and until():
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self._stop.wait(0.01)
        return False

    def destroy(self) -> None:
        """Stop the runtime thread and delete every DDS entity of this node."""
        if self._closed:
            return
        self._stop.set()
        self._wake.set(True)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)
        with self._lock:
            for sub in list(self._subscriptions):
                sub.destroy()
            for pub in list(self._publishers):
                pub.destroy()
            for timer in list(self._timers):
                timer.cancel()
            self._closed = True
            self._topics.clear()
        # Deleting the participant deletes its readers, writers, topics and conditions.
        self.participant.__del__()

    def __enter__(self) -> "DdsNode":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.destroy()

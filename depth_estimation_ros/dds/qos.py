"""ROS-style QoS profiles and their mapping onto Cyclone DDS QoS.

ROS 2 matching rules apply unchanged because they are DDS rules: a BEST_EFFORT writer does
not match a RELIABLE reader, a VOLATILE writer does not match a TRANSIENT_LOCAL reader; the
other combinations match.
"""

from dataclasses import dataclass

from cyclonedds.qos import Policy, Qos
from cyclonedds.util import duration

__all__ = [
    "DEFAULT",
    "DURABILITIES",
    "QosError",
    "QosProfile",
    "RELIABILITIES",
    "SENSOR_DATA",
    "TRANSIENT_LOCAL",
    "reader_qos",
    "writer_qos",
]

RELIABILITIES = ("best_effort", "reliable")
DURABILITIES = ("volatile", "transient_local")
MAX_DEPTH = 10_000


class QosError(ValueError):
    """A QoS setting outside the supported values."""


@dataclass(frozen=True)
class QosProfile:
    """The QoS settings ROS users choose: reliability, durability, KEEP_LAST history depth.

    Attributes:
        reliability: ``"best_effort"`` or ``"reliable"``.
        durability: ``"volatile"`` or ``"transient_local"`` (late joiners get the last
            ``depth`` samples).
        depth: KEEP_LAST history depth, 1..10000.
    """

    reliability: str = "reliable"
    durability: str = "volatile"
    depth: int = 5

    def __post_init__(self) -> None:
        if self.reliability not in RELIABILITIES:
            raise QosError(
                f"QoS reliability {self.reliability!r} is not supported; expected one of "
                f"{', '.join(RELIABILITIES)}"
            )
        if self.durability not in DURABILITIES:
            raise QosError(
                f"QoS durability {self.durability!r} is not supported; expected one of "
                f"{', '.join(DURABILITIES)}"
            )
        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or not (
            1 <= self.depth <= MAX_DEPTH
        ):
            raise QosError(f"QoS depth {self.depth!r} is invalid; expected an int 1..{MAX_DEPTH}")


# rclpy's qos_profile_sensor_data: BEST_EFFORT, VOLATILE, KEEP_LAST 5.
SENSOR_DATA = QosProfile(reliability="best_effort", durability="volatile", depth=5)
# rclpy's default for publishers/subscriptions created with a depth of 10.
DEFAULT = QosProfile(reliability="reliable", durability="volatile", depth=10)
# What latched-style ROS tools ask for (e.g. RViz with "Transient Local").
TRANSIENT_LOCAL = QosProfile(reliability="reliable", durability="transient_local", depth=1)


def _common(profile: QosProfile, typehash: str | None) -> list:
    policies = [
        Policy.Reliability.Reliable(max_blocking_time=duration(milliseconds=100))
        if profile.reliability == "reliable"
        else Policy.Reliability.BestEffort,
        Policy.Durability.TransientLocal
        if profile.durability == "transient_local"
        else Policy.Durability.Volatile,
        Policy.History.KeepLast(profile.depth),
    ]
    if typehash:
        # rmw_cyclonedds (Iron and later) reads "typehash=RIHS01_...;" from endpoint USER_DATA.
        policies.append(Policy.Userdata(data=f"typehash={typehash};".encode()))
    return policies


def writer_qos(profile: QosProfile, typehash: str | None = None) -> Qos:
    """Cyclone QoS for a writer: the profile, plain CDR (XCDR1) only, and the type hash."""
    return Qos(*_common(profile, typehash), Policy.DataRepresentation(
        use_cdrv0_representation=True))


def reader_qos(profile: QosProfile, typehash: str | None = None) -> Qos:
    """Cyclone QoS for a reader: the profile; accepts XCDR1 (ROS 2) and XCDR2 writers."""
    return Qos(*_common(profile, typehash), Policy.DataRepresentation(
        use_cdrv0_representation=True, use_xcdrv2_representation=True))

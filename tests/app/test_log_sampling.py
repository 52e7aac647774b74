"""The rate-limited log: a budget of lines per key and second, the rest counted and the
count written on the key's next line."""

from typing import Any

from app.log_sampling import SampledLog
from app.rejections import Rejections, notice_reason
from exchange.metrics import Metrics
from exchange.notice_token import InvalidNotice


class Lines:
    """A logger that keeps what it was asked to write."""

    def __init__(self) -> None:
        self.written: list[tuple[str, str, dict[str, Any]]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.written.append(("info", event, fields))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_at_most_the_budget_per_second_then_the_suppressed_count() -> None:
    lines, clock, suppressed = Lines(), Clock(), []
    log = SampledLog(lines, per_second=3, on_suppressed=suppressed.append, clock=clock)
    written = [log.write("auction|invalid", "request_rejected", n=n) for n in range(10)]
    assert written == [True] * 3 + [False] * 7
    assert [fields["n"] for _, _, fields in lines.written] == [0, 1, 2]
    assert suppressed == ["request_rejected"] * 7
    clock.now += 1.0
    assert log.write("auction|invalid", "request_rejected", n=10)
    assert lines.written[-1] == ("info", "request_rejected", {"n": 10, "suppressed": 7})
    assert log.write("auction|invalid", "request_rejected", n=11)
    assert "suppressed" not in lines.written[-1][2]


def test_each_key_has_its_own_budget() -> None:
    lines, clock = Lines(), Clock()
    log = SampledLog(lines, per_second=1, clock=clock)
    assert log.write("win|expired", "notice_rejected")
    assert not log.write("win|expired", "notice_rejected")
    assert log.write("win|bad_signature", "notice_rejected")
    assert len(lines.written) == 2


def test_keys_beyond_the_bound_share_one_budget() -> None:
    lines, clock = Lines(), Clock()
    log = SampledLog(lines, per_second=1, max_keys=2, clock=clock)
    assert log.write("a", "e")
    assert log.write("b", "e")
    assert log.write("c", "e")  # the first line of the shared "other" budget
    assert not log.write("d", "e")
    assert len(lines.written) == 3


def test_suppressed_lines_are_counted_by_event() -> None:
    metrics = Metrics()
    rejections = Rejections(metrics, per_second=1)
    for _ in range(4):
        rejections.notice("billing", 403, "expired")
    value = metrics.registry.get_sample_value(
        "rtb_log_lines_suppressed_total", {"event": "notice_rejected"}
    )
    assert value == 3


def test_notice_refusals_have_bounded_reasons() -> None:
    assert notice_reason(InvalidNotice("bad signature")) == "bad_signature"
    assert notice_reason(InvalidNotice("token is for a win notice")) == "wrong_kind"
    assert notice_reason(InvalidNotice("unsupported token version 912")) == "unsupported_version"
    assert notice_reason(InvalidNotice("something new")) == "invalid"

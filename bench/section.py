"""What every benchmark section shares: its options in, its report out.

A section is a plain function ``(Options) -> Report`` registered by name in
``bench.__main__.SECTIONS``; it prints progress to stderr as it goes and returns its
figures, which ``__main__`` prints as tables on stdout. New sections (auction mechanisms,
fan-out, router) add a module and one line to the registry.
"""

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["Options", "Report", "Section", "Table", "median_p99", "progress", "timing_report"]


@dataclass(frozen=True, slots=True)
class Options:
    """Command-line options every section receives."""

    duration_s: float = 8.0
    """Measured seconds of each timed run."""
    warmup_s: float = 1.0
    """Unmeasured seconds before each timed run."""
    connections: int = 32
    use_wrk: bool = True
    """Also run wrk for saturation when it is installed."""
    soak_auctions: int = 300_000
    """Auctions the soak section drives (each with its notices)."""


@dataclass(frozen=True, slots=True)
class Table:
    """A titled table of already formatted cells; numbers are right-aligned."""

    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[str]]

    def render(self) -> str:
        """Plain-text table with aligned columns (readable in a terminal and in a log)."""
        widths = [len(h) for h in self.header]
        for row in self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))

        def line(cells: Sequence[str]) -> str:
            out = []
            for i, cell in enumerate(cells):
                numeric = i > 0 and _looks_numeric(cell)
                out.append(cell.rjust(widths[i]) if numeric else cell.ljust(widths[i]))
            return "  ".join(out).rstrip()

        rule = "  ".join("-" * w for w in widths)
        body = [line(row) for row in self.rows]
        return "\n".join([self.title, line(self.header), rule, *body])


def _looks_numeric(cell: str) -> bool:
    stripped = cell.replace(",", "").replace(".", "").replace("%", "").replace("×", "")
    return stripped.strip().lstrip("-").isdigit() or cell == "–"


@dataclass(frozen=True, slots=True)
class Report:
    """A section's result: context lines, tables, and closing notes."""

    title: str
    context: Sequence[str] = ()
    tables: Sequence[Table] = ()
    notes: Sequence[str] = field(default_factory=tuple)
    failures: Sequence[str] = ()
    """What made the figures meaningless (e.g. no candidate scored by the models where the
    row is about model scoring): printed last, and ``python -m bench`` exits non-zero."""

    def render(self) -> str:
        """The whole report as text."""
        parts = [f"== {self.title} ==", *self.context, ""]
        for table in self.tables:
            parts += [table.render(), ""]
        parts += list(self.notes)
        parts += [f"FAILED: {failure}" for failure in self.failures]
        return "\n".join(parts).rstrip() + "\n"


Section = Callable[[Options], Report]


def progress(message: str) -> None:
    """A progress line on stderr, so stdout holds only the report."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def median_p99(samples: Sequence[float]) -> tuple[float, float]:
    """Median and 99th percentile (nearest rank) of ``samples``."""
    ordered = sorted(samples)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return median, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def timing_report(
    title: str, target: str, what: str, unit: str, rows: Sequence[tuple[str, float, float]]
) -> Report:
    """The report of a CPU-bound section: one row per timed step, median and p99 in µs."""
    table = Table(
        f"µs per {unit} (this process, one core)",
        [what, "median µs", "p99 µs"],
        [[label, f"{median:,.1f}", f"{p99:,.1f}"] for label, median, p99 in rows],
    )
    return Report(title, context=[f"target: {target}"], tables=[table])

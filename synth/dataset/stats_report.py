"""``synth stats``' tables: a dataset's distributions (:class:`synth.dataset.stats.DatasetStats`) against the
configured ranges, printed with rich."""

from __future__ import annotations

from ..core.progress import out_console

__all__ = ["print_stats"]


def print_stats(st) -> int:
    """Print one table per categorical quantity (count, fraction, configured fraction) and one of the numeric
    quantities (n, min, p5, median, p95, max, configured range, values outside it) to stdout.

    Returns:
        the number of numeric values outside their configured ranges.
    """
    from rich.table import Table

    out_console.print(f"[bold]{st.scenes}[/bold] scenes, [bold]{st.cameras}[/bold] cameras")
    for name, counter in st.categorical.items():
        exp = st.expected_fractions.get(name, {})
        tab = Table(title=name, title_justify="left")
        tab.add_column("value")
        tab.add_column("count", justify="right")
        tab.add_column("fraction", justify="right")
        tab.add_column("configured", justify="right")
        total = sum(counter.values())
        for key in sorted(set(counter) | set(exp)):
            tab.add_row(key, str(counter.get(key, 0)), f"{counter.get(key, 0) / total:.3f}",
                        f"{exp[key]:.3f}" if key in exp else "")
        out_console.print(tab)
    tab = Table(title="numeric", title_justify="left")
    for col in ("quantity", "n", "min", "p5", "median", "p95", "max", "configured", "outside"):
        tab.add_column(col, justify="right" if col != "quantity" else "left")
    bad = 0
    for name, num in st.numeric.items():
        s = num.summary()
        oor = num.out_of_range()
        bad += oor
        rng = f"[{num.expected[0]:g}, {num.expected[1]:g}]" if num.expected else ""
        tab.add_row(name, str(s["n"]), *(f"{s[k]:.3g}" for k in ("min", "p5", "median", "p95", "max")), rng,
                    f"[red]{oor}[/red]" if oor else "0")
    out_console.print(tab)
    return bad

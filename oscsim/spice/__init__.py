"""ngspice side of oscsim: cell subcircuits, netlist text, running ngspice, reading its results.

- ``cells``: ``CELLS`` (oscillator cells by name), ``LcCell``, ``Cbank4Cell``, ``ShilCell``,
  ``RefclkCell`` (parameters that check themselves), ``Subckt`` (file, pins, instance lines).
- ``format``: ``spice_float`` and ``sanitize_name``: how numbers and names enter a netlist.
- ``run``: ``run_netlist``, ``run_many``, ``run_each`` (``ngspice -b -r``, one process per netlist),
  ``tran_line`` and ``check_tran`` (max step <= T_ref/100).
- ``raw``: ``read_raw`` -> ``RawFile`` (binary or ASCII raw files).
- ``phase``: ``phase_at``, ``demodulate``, ``frequency_hz``: phases against the reference clock.
"""

from oscsim.spice.cells import (
    CELLS,
    SUBCKTS,
    Cbank4Cell,
    CellState,
    LcCell,
    RefclkCell,
    ShilCell,
    Subckt,
)
from oscsim.spice.format import sanitize_name, spice_float
from oscsim.spice.phase import demodulate, frequency_hz, phase_at, rising_crossings, wrap
from oscsim.spice.raw import RawFile, read_raw
from oscsim.spice.run import (
    check_tran,
    find_ngspice,
    run_each,
    run_many,
    run_netlist,
    tran_line,
)

__all__ = [
    "CELLS",
    "SUBCKTS",
    "Cbank4Cell",
    "CellState",
    "LcCell",
    "RawFile",
    "RefclkCell",
    "ShilCell",
    "Subckt",
    "check_tran",
    "demodulate",
    "find_ngspice",
    "frequency_hz",
    "phase_at",
    "read_raw",
    "rising_crossings",
    "run_each",
    "run_many",
    "run_netlist",
    "sanitize_name",
    "spice_float",
    "tran_line",
    "wrap",
]

"""Case files: the one reader and the one writer of case and plan YAML.

:func:`load_case` reads a file, :func:`parse_case_text` its text (a case sent to another
process), :func:`parse_case` a mapping already in memory (the built-in phantoms). All validate
the keys (:mod:`irelab.case.schema`), then what a schema cannot see (:mod:`irelab.case.checks`).
Each problem is one :class:`~irelab.errors.InputError` naming the file, the key and what was
expected.

:func:`write_case` writes a :class:`~irelab.case.Case` (a plan is a case) as YAML with the
documented keys, deterministically: the same case gives the same bytes. Every tissue the case
uses is written in full (its four numbers, model, role and source), so a plan keeps meaning what
it meant when it was made even if a preset changes later; reading the file back gives the same
case (tested on every example and phantom).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from irelab.case import checks
from irelab.case.model import (
    Case,
    Domain,
    Pair,
    Placement,
    Probe,
    Protocol,
    ReplanChange,
    ReplanRecord,
)
from irelab.case.schema import (
    CaseSpec,
    ReplanSpec,
    TissueSpec,
    validate_case_mapping,
    validate_tissue_file_mapping,
)
from irelab.case.tissues import TISSUE_PRESETS, Tissue
from irelab.errors import InputError, parse_yaml_text, read_yaml_input
from irelab.field.problem import TissueRole

__all__ = ["load_case", "parse_case", "parse_case_text", "case_mapping", "case_text",
           "write_case", "load_tissues", "write_tissue_file"]

NUMBERS = ("sigma0_S_per_m", "sigma1_S_per_m", "e_rev_V_per_cm", "e_irr_V_per_cm")
"""The four numbers a new tissue must give (the lethal threshold is optional)."""
CHANGES = (*NUMBERS, "lethal_threshold_V_per_cm")
"""The numbers whose override is noted in the tissue's source."""


def load_case(path: str | Path) -> Case:
    """Read and validate a YAML case file."""
    path = Path(path)
    return parse_case(read_yaml_input(path, "case file"), source=str(path), base_dir=path.parent)


def parse_case_text(text: str, source: str = "<case>", base_dir: Path | None = None) -> Case:
    """Read and validate a case from its YAML text (what :func:`case_text` writes)."""
    return parse_case(parse_yaml_text(text, source), source=source, base_dir=base_dir)


def parse_case(mapping: object, source: str = "<case>", base_dir: Path | None = None) -> Case:
    """Validate a case mapping (the YAML's content) and build the :class:`Case`."""
    spec = validate_case_mapping(mapping, source)
    base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
    domain = Domain(tuple(spec.domain.size_mm), spec.domain.spacing_mm,
                    tuple(spec.domain.center_mm))
    checks.check_domain(domain, source)
    case = Case(name=spec.name, domain=domain, background=spec.anatomy.background,
                regions=tuple(spec.anatomy.regions), tissues=_tissues(spec, source, base_dir),
                probes=tuple(_probe(p) for p in spec.probes), protocol=_protocol(spec, source),
                source=source, base_dir=base_dir, description=spec.description,
                uncertainty=spec.uncertainty, replan=_replan(spec.replan),
                imaging=spec.imaging)
    checks.check_imaging(case, source)
    checks.check_probes(case, source)
    _check_uncertainty(case, source)
    checks.check_pairs(case, source)
    if any(region.image is not None for region in case.regions):
        case.labels(case.grid())  # images readable, overlapping, label present (and cached)
    return case


def _tissue_file(path: Path, source: str, key: str) -> dict[str, TissueSpec]:
    if not path.is_file():
        raise InputError(source, key, "an existing tissue file (YAML with tissues:)", str(path))
    return validate_tissue_file_mapping(read_yaml_input(path, "tissue file"), str(path)).tissues


def _tissues(spec: CaseSpec, source: str, base_dir: Path) -> dict[str, Tissue]:
    used = [spec.anatomy.background] + [r.tissue for r in spec.anatomy.regions]
    known = dict(TISSUE_PRESETS)
    defined: list[str] = []
    for i, include in enumerate(spec.include):
        path = Path(include) if Path(include).is_absolute() else base_dir / include
        for name, entry in _tissue_file(path, source, f"include[{i}]").items():
            known[name] = _tissue(name, entry, known, str(path))
            defined.append(name)
    for name, entry in spec.tissues.items():
        known[name] = _tissue(name, entry, known, source)
        defined.append(name)
    for i, name in enumerate(used):
        if name not in known:
            key = "anatomy.background" if i == 0 else f"anatomy.regions[{i - 1}].tissue"
            raise InputError(source, key, f"a preset tissue ({', '.join(TISSUE_PRESETS)}) or one "
                             "defined under tissues:", name)
    return {name: known[name] for name in dict.fromkeys(used)} | {
        name: known[name] for name in dict.fromkeys(defined)}


def _check_uncertainty(case: Case, source: str) -> None:
    """Conductivity spreads name tissues of the case."""
    if case.uncertainty is None:
        return
    for name in case.uncertainty.conductivity:
        if name not in case.tissues:
            raise InputError(source, f"uncertainty.conductivity.{name}",
                             f"a tissue of the case ({', '.join(case.tissues)})", name)


def _role(entry: TissueSpec, base: Tissue | None) -> TissueRole:
    if entry.role is not None:
        return TissueRole(entry.role)
    if entry.critical is not None:
        if entry.critical:
            return TissueRole.CRITICAL
        return TissueRole.BACKGROUND if base is None or base.critical else base.role
    return base.role if base is not None else TissueRole.BACKGROUND


def _tissue(name: str, entry: TissueSpec, known: Mapping[str, Tissue], source: str) -> Tissue:
    key = f"tissues.{name}"
    if entry.like is not None and entry.like not in known:
        raise InputError(source, f"{key}.like", f"a preset tissue ({', '.join(TISSUE_PRESETS)})",
                         entry.like)
    base = known.get(entry.like or name)
    values = entry.model_dump(exclude_none=True, exclude={"like", "critical", "role"})
    values["role"] = _role(entry, base)
    try:
        if base is None:
            missing = [n for n in NUMBERS if n not in values]
            if missing:
                raise InputError(source, f"{key}.{missing[0]}", "all of "
                                 f"{', '.join(NUMBERS)} for a new tissue (or like: <preset>)")
            return Tissue(name=name, source=values.pop("source", None), **values)
        changed = set(values) & set(CHANGES)
        if changed and "source" not in values and base.source:
            values["source"] = (f"{base.source}; overridden in {source}: "
                                f"{', '.join(sorted(changed))}")
        return base.updated(name=name, kind=base.kind, **values)
    except ValueError as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(source, key, "a valid tissue model", str(exc)) from None


def _probe(spec) -> Probe:
    u = np.asarray(spec.direction, dtype=float)
    u = u / np.linalg.norm(u)
    bipolar = None
    if spec.bipolar is not None:
        bipolar = (spec.bipolar.distal_mm, spec.bipolar.gap_mm, spec.bipolar.proximal_mm)
    return Probe(name=spec.name, tip_mm=tuple(spec.tip_mm), direction=tuple(float(c) for c in u),
                 diameter_mm=spec.diameter_mm, exposed_mm=spec.exposed_mm, bipolar_mm=bipolar)


def _protocol(spec: CaseSpec, source: str) -> Protocol | None:
    if spec.protocol is None:
        return None
    p = spec.protocol
    if p.placements:
        placements = tuple(Placement(q.back_mm, tuple(q.shift_mm)) for q in p.placements)
    else:
        placements = tuple(Placement(back) for back in
                           (0.0, *itertools.accumulate(p.pullback_steps_mm)))
    pairs = []
    for k, pair in enumerate(p.pairs):
        currents = tuple(pair.predicted_currents_A) if pair.predicted_currents_A else None
        if currents is not None and len(currents) != len(placements):
            raise InputError(source, f"protocol.pairs[{k}].predicted_currents_A",
                             f"one current per position ({len(placements)})", len(currents))
        pairs.append(Pair(pair.anode, pair.cathode, pair.voltage_V, pair.predicted_current_A,
                          currents))
    return Protocol(p.pulses, p.pulse_width_us, tuple(pairs), placements,
                    pullbacks=bool(p.pullback_steps_mm), train_pause_s=p.train_pause_s,
                    pair_pause_s=p.pair_pause_s)


def _replan(spec: ReplanSpec | None) -> ReplanRecord | None:
    if spec is None:
        return None
    return ReplanRecord(spec.from_plan, spec.measured,
                        tuple(ReplanChange(c.kind, c.subject, c.detail) for c in spec.changes),
                        spec.coverage_planned, spec.coverage_as_placed, spec.coverage)


# --- the writer ---------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """Python scalars and lists for YAML: tuples as lists, numpy scalars as Python numbers,
    whole floats as integers (1500 V, not 1500.0)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() \
            and abs(value) < 1e15:
        return int(value)
    return value


def _tissue_mapping(tissue: Tissue) -> dict:
    out: dict[str, Any] = {}
    if tissue.kind != tissue.name:
        out["like"] = tissue.kind
    out |= {n: getattr(tissue, n) for n in NUMBERS}
    if tissue.lethal_threshold_V_per_cm is not None:
        out["lethal_threshold_V_per_cm"] = tissue.lethal_threshold_V_per_cm
    out["model"] = tissue.model
    out["role"] = str(tissue.role)
    if tissue.source:
        out["source"] = tissue.source
    return out


def _probe_mapping(probe: Probe) -> dict:
    out: dict[str, Any] = {"name": probe.name, "tip_mm": probe.tip_mm,
                           "direction": probe.direction}
    if probe.bipolar_mm is None:
        out["exposed_mm"] = probe.exposed_mm
    else:
        out["bipolar"] = dict(zip(("distal_mm", "gap_mm", "proximal_mm"), probe.bipolar_mm,
                                  strict=True))
    out["diameter_mm"] = probe.diameter_mm
    return out


def _protocol_mapping(protocol: Protocol) -> dict:
    pairs = []
    for pair in protocol.pairs:
        entry: dict[str, Any] = {"anode": pair.anode, "cathode": pair.cathode,
                                 "voltage_V": pair.voltage_V}
        if pair.predicted_current_A is not None:
            entry["predicted_current_A"] = pair.predicted_current_A
        if pair.predicted_currents_A is not None:
            entry["predicted_currents_A"] = pair.predicted_currents_A
        pairs.append(entry)
    out: dict[str, Any] = {"pulses": protocol.pulses, "pulse_width_us": protocol.pulse_width_us,
                           "pairs": pairs}
    if protocol.pullbacks and protocol.positions > 1:
        out["pullback_steps_mm"] = protocol.pullback_steps_mm
    elif protocol.placements != (Placement(),):
        out["placements"] = [{"back_mm": p.back_mm, "shift_mm": p.shift_mm}
                             for p in protocol.placements]
    if protocol.train_pause_s is not None:
        out["train_pause_s"] = protocol.train_pause_s
    if protocol.pair_pause_s is not None:
        out["pair_pause_s"] = protocol.pair_pause_s
    return out


def case_mapping(case: Case) -> dict:
    """The case as the mapping its file holds (image paths made absolute, so that it can be
    written anywhere)."""
    out: dict[str, Any] = {"name": case.name}
    if case.description:
        out["description"] = case.description
    out["domain"] = {"size_mm": case.domain.size_mm, "spacing_mm": case.domain.spacing_mm,
                     "center_mm": case.domain.center_mm}
    regions = []
    for region in case.regions:
        entry = region.model_dump(mode="json", exclude_none=True)
        image = entry.get("image")
        if image is not None:
            image["path"] = _absolute(case.base_dir, image["path"])
        regions.append(entry)
    out["anatomy"] = {"background": case.background, "regions": regions}
    if case.imaging is not None:
        imaging = case.imaging.model_dump(mode="json", exclude_none=True)
        imaging["ct"]["path"] = _absolute(case.base_dir, imaging["ct"]["path"])
        imaging["labels"] = _absolute(case.base_dir, imaging["labels"])
        out["imaging"] = imaging
    out["tissues"] = {name: _tissue_mapping(t) for name, t in case.tissues.items()}
    out["probes"] = [_probe_mapping(p) for p in case.probes]
    if case.protocol is not None:
        out["protocol"] = _protocol_mapping(case.protocol)
    if case.uncertainty is not None:
        out["uncertainty"] = case.uncertainty.model_dump(mode="json", exclude_defaults=True)
    if case.replan is not None:
        out["replan"] = _replan_mapping(case.replan)
    return _plain(out)


def _replan_mapping(record: ReplanRecord) -> dict:
    out: dict[str, Any] = {"from": record.from_plan, "measured": record.measured}
    for key in ("coverage_planned", "coverage_as_placed", "coverage"):
        if getattr(record, key) is not None:
            out[key] = getattr(record, key)
    out["changes"] = [{"kind": c.kind, "subject": c.subject, "detail": c.detail}
                      for c in record.changes]
    return out


def _absolute(base_dir: Path, path: str) -> str:
    return path if Path(path).is_absolute() else str((base_dir / path).resolve())


def case_text(case: Case) -> str:
    """The YAML text of :func:`write_case`."""
    return yaml.safe_dump(case_mapping(case), sort_keys=False, allow_unicode=True, width=100,
                          default_flow_style=None)


def write_case(case: Case, path: str | Path) -> Path:
    """Write ``case`` to ``path`` (UTF-8 YAML), replacing the file only once it is complete."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(case_text(case), encoding="utf-8")
    partial.replace(path)
    return path


# --- tissue files (``include:``) ----------------------------------------------------------------
def load_tissues(path: str | Path) -> dict[str, Tissue]:
    """The tissues of a tissue file, resolved against the presets (what a case that includes
    it gets before its own ``tissues:``)."""
    path = Path(path)
    known = dict(TISSUE_PRESETS)
    out = {}
    for name, entry in _tissue_file(path, str(path), "").items():
        out[name] = known[name] = _tissue(name, entry, known, str(path))
    return out


def write_tissue_file(tissues: Mapping[str, Tissue], path: str | Path,
                      description: str | None = None) -> Path:
    """Write ``tissues`` as a tissue file a case can ``include:`` (each tissue in full, as a
    plan writes it), replacing the file only once it is complete."""
    path = Path(path)
    out: dict[str, Any] = {}
    if description:
        out["description"] = description
    out["tissues"] = {name: _tissue_mapping(t) for name, t in tissues.items()}
    text = yaml.safe_dump(_plain(out), sort_keys=False, allow_unicode=True, width=100,
                          default_flow_style=None)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    return path

"""What a segment is: the structures irelab knows, matched by SNOMED CT code or by name.

Each :class:`Term` says what the structure is to a plan (:class:`StructureRole`): a *tissue*
the field solver models (liver, tumour, a vessel or bile duct, each a case tissue, vessels
``like: blood`` and ducts ``like: bile``), an *obstacle* a needle path must not cross (ribs and
other bone, bowel, stomach, gallbladder, lung, heart, kidney, spleen, pancreas: not modelled as
tissue) or the *body* outline (skin), from which insertion depths are measured.

A segment is matched by its coded property type first (the SNOMED CT concept a DICOM SEG,
an RTSTRUCT's identification code or a Slicer terminology entry carries), then by its name
(TotalSegmentator's file names, free-text ROI names), first match in :data:`TERMS` order (so
``liver_tumor`` is a tumour and ``portal_vein_and_splenic_vein`` a portal vein). Codes are
DICOM PS3.16's (CID 7151 Segmentation Property Types, CID 7150 categories), taken from pydicom's
code dictionary by keyword, not typed here. Colours are display choices (Slicer-like: organs
in flesh tones, veins blue, arteries red, ducts green, bone ivory).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["StructureRole", "Term", "TERMS", "match_term"]


class StructureRole(StrEnum):
    TISSUE = "tissue"
    OBSTACLE = "obstacle"
    BODY = "body"


@dataclass(frozen=True)
class Term:
    """A structure irelab knows. ``keywords`` are pydicom code-dictionary keywords (SCT) whose
    codes mean it, the first being the one written; ``tissue``/``like`` name the case tissue
    (a preset when ``like`` is None) for the tissue role."""

    key: str
    role: StructureRole
    pattern: str
    keywords: tuple[str, ...]
    colour: tuple[int, int, int]
    tissue: str | None = None
    like: str | None = None
    category: str = "AnatomicalStructure"

    def codes(self) -> tuple[str, ...]:
        """The SNOMED CT code values of :attr:`keywords`."""
        return tuple(_sct(k).value for k in self.keywords)

    def property_type(self):
        """The coded concept written for it (pydicom ``Code``)."""
        return _sct(self.keywords[0])

    def property_category(self):
        return _sct(self.category)


_T, _O, _B = StructureRole.TISSUE, StructureRole.OBSTACLE, StructureRole.BODY

TERMS: tuple[Term, ...] = (
    Term("tumour", _T, r"tumou?r|metasta|lesion|neoplasm|\bmass\b|\bgtv\b|crlm|\bhcc\b|nodule",
         ("Neoplasm", "Mass", "Lesion", "Metastasis"), (255, 220, 0), tissue="tumour",
         category="MorphologicallyAbnormalStructure"),
    Term("portal_vein", _T, r"portal", ("PortalVein",), (0, 151, 206), tissue="portal_vein",
         like="blood"),
    Term("hepatic_vein", _T, r"hepatic ?vein|\bhv\b", ("HepaticVein",), (0, 110, 180),
         tissue="hepatic_vein", like="blood"),
    Term("ivc", _T, r"vena ?cava|\bivc\b", ("InferiorVenaCava",), (0, 70, 160), tissue="ivc",
         like="blood"),
    Term("hepatic_artery", _T, r"hepatic ?arter", ("HepaticArtery",), (216, 40, 40),
         tissue="hepatic_artery", like="blood"),
    Term("aorta", _T, r"aort", ("Aorta",), (224, 60, 60), tissue="aorta", like="blood"),
    Term("vessel", _T, r"vessel|vein|arter|vascul", ("BloodVessel", "Vein", "Artery"),
         (60, 120, 220), tissue="vessel", like="blood"),
    Term("bile_duct", _T, r"\bbil(e|iary)\b|\bcbd\b|\bduct", ("BileDuct", "CommonBileDuct"),
         (0, 145, 30), tissue="bile_duct", like="bile"),
    Term("gallbladder", _O, r"gall ?bladder", ("Gallbladder",), (139, 150, 98)),
    Term("liver", _T, r"liver|hepat", ("Liver",), (221, 130, 101), tissue="liver"),
    Term("rib", _O, r"\bribs?\b|\bcost(a|al)", ("Rib",), (241, 214, 145)),
    Term("bone", _O, r"bone|vertebra|spine|sternum|scapula|clavicula|sacrum|\bhip\b|femur|humerus|"
         r"skeleton|skull", ("Bone", "Vertebra", "Spine", "Sternum"), (230, 220, 200)),
    Term("bowel", _O, r"bowel|intestin|colon|duoden|jejun|\bile(um|al)\b|stomach|gastr|rectum|"
         r"sigmoid|c(a)?ecum|esophag|oesophag",
         ("Colon", "SmallIntestine", "Stomach", "Duodenum", "LargeIntestine", "Esophagus",
          "Rectum", "Cecum"), (205, 167, 142)),
    Term("lung", _O, r"lung|pleura", ("Lung", "Pleura"), (197, 165, 145)),
    Term("heart", _O, r"heart|cardiac|myocard", ("Heart",), (206, 110, 84)),
    Term("kidney", _O, r"kidney|renal", ("Kidney",), (185, 102, 83)),
    Term("spleen", _O, r"spleen|splen", ("Spleen",), (157, 108, 162)),
    Term("pancreas", _O, r"pancrea", ("Pancreas",), (249, 180, 111)),
    Term("body", _B, r"body|skin|external|outline|patient|trunc", ("EntireBody", "Skin"),
         (177, 122, 101)),
)
"""Known structures, in matching order (first match wins)."""

TERM_KEYS = tuple(t.key for t in TERMS)


@functools.cache
def _sct(keyword: str):
    from pydicom.sr.codedict import codes

    return getattr(codes.SCT, keyword)


@functools.cache
def _by_code() -> dict[str, Term]:
    out: dict[str, Term] = {}
    for term in TERMS:
        for value in term.codes():
            out.setdefault(value, term)
    return out


def normalised(name: str) -> str:
    """Lower case, separators as spaces: ``rib_right_7`` -> ``rib right 7``."""
    return " ".join(re.sub(r"[_\-./]+", " ", name.lower()).split())


def match_term(name: str, code: str | None = None) -> Term | None:
    """The known structure a segment named ``name`` with SNOMED CT ``code`` is, or None."""
    if code is not None and code in _by_code():
        return _by_code()[code]
    text = normalised(name)
    for term in TERMS:
        if re.search(term.pattern, text):
            return term
    return None


def term(key: str) -> Term:
    """The term with ``key`` (a ``--map`` value)."""
    return TERMS[TERM_KEYS.index(key)]

"""Controlled vocabularies for adverse events: a CTCAE v5.0 term subset and the CIRSE grades.

``CTCAE_TERMS`` is a curated SUBSET of the Common Terminology Criteria for Adverse Events,
version 5.0 (U.S. Department of Health and Human Services, NIH/NCI, 27 November 2017): the
terms (spelled as in CTCAE, US spelling) that series of percutaneous or open liver ablation and
irreversible electroporation report - arrhythmias during pulse delivery, access-related
pneumothorax and bleeding, biliary and portal-venous injury, liver enzyme rises, post-ablation
fever and pain. It is not the full dictionary: a term missing here is refused (HTTP 422) and
must be added to this list, with its CTCAE system organ class, before it can be recorded.

``CIRSE_GRADES`` paraphrases the six grades of the CIRSE classification system for
complications (Filippiadis DK, Binkert C, Pellerin O, Hoffmann RT, Krajina A, Pereira PL.
Cardiovasc Intervent Radiol 2017;40:1141-1146).
"""

from __future__ import annotations

CTCAE_VERSION = "5.0"

#: CTCAE v5.0 term -> its system organ class (subset; see the module docstring).
CTCAE_TERMS: dict[str, str] = {
    "Atrial fibrillation": "Cardiac disorders",
    "Atrial flutter": "Cardiac disorders",
    "Sinus bradycardia": "Cardiac disorders",
    "Sinus tachycardia": "Cardiac disorders",
    "Supraventricular tachycardia": "Cardiac disorders",
    "Ventricular arrhythmia": "Cardiac disorders",
    "Ventricular fibrillation": "Cardiac disorders",
    "Ventricular tachycardia": "Cardiac disorders",
    "Cardiac arrest": "Cardiac disorders",
    "Hypertension": "Vascular disorders",
    "Hypotension": "Vascular disorders",
    "Hematoma": "Vascular disorders",
    "Thromboembolic event": "Vascular disorders",
    "Pneumothorax": "Respiratory, thoracic and mediastinal disorders",
    "Pleural effusion": "Respiratory, thoracic and mediastinal disorders",
    "Hypoxia": "Respiratory, thoracic and mediastinal disorders",
    "Portal vein thrombosis": "Hepatobiliary disorders",
    "Bile duct stenosis": "Hepatobiliary disorders",
    "Biliary fistula": "Hepatobiliary disorders",
    "Hepatic failure": "Hepatobiliary disorders",
    "Hepatic hemorrhage": "Hepatobiliary disorders",
    "Cholecystitis": "Hepatobiliary disorders",
    "Intra-abdominal hemorrhage": "Gastrointestinal disorders",
    "Abdominal pain": "Gastrointestinal disorders",
    "Nausea": "Gastrointestinal disorders",
    "Vomiting": "Gastrointestinal disorders",
    "Colonic perforation": "Gastrointestinal disorders",
    "Hepatic infection": "Infections and infestations",
    "Biliary tract infection": "Infections and infestations",
    "Sepsis": "Infections and infestations",
    "Wound infection": "Infections and infestations",
    "Alanine aminotransferase increased": "Investigations",
    "Aspartate aminotransferase increased": "Investigations",
    "Blood bilirubin increased": "Investigations",
    "Alkaline phosphatase increased": "Investigations",
    "Fever": "General disorders and administration site conditions",
    "Pain": "General disorders and administration site conditions",
    "Fatigue": "General disorders and administration site conditions",
    "Acute kidney injury": "Renal and urinary disorders",
    "Hyperkalemia": "Metabolism and nutrition disorders",
    "Myalgia": "Musculoskeletal and connective tissue disorders",
}

#: CIRSE complication grade -> its definition, paraphrased from Filippiadis et al. 2017.
CIRSE_GRADES: dict[int, str] = {
    1: "solved within the same session; no further therapy, sequelae or change of course",
    2: "prolonged observation or overnight stay (< 48 h); no further therapy or sequelae",
    3: "additional therapy or prolonged hospital stay (> 48 h) needed; no sequelae",
    4: "permanent mild sequelae (resuming work and independent living)",
    5: "permanent severe sequelae (needing ongoing assistance in daily life)",
    6: "death",
}

"""Realistic demo data: partners, dealers and about twenty vehicles with their lives.

Everything goes through the same checks as a partner's submission over HTTP: each
partner has its own key (kept in ``DIR/demo-keys`` so you can submit more as them),
and each record is a signed DSSE envelope. The data is seeded from a fixed random
seed, so every demo ledger tells the same stories:

- one car's odometer was rolled back (a later inspection reads 60,000 km less);
- one car was in a flood (insurer total loss, registry flood brand, inspection flags);
- the rest are ordinary cars with services, inspections, owners and dealer sales.

``guide`` names the vehicles worth a look, with their links, for ``vinledger demo``.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.config import write_secret
from api.service import Ledger
from core import dsse
from core.errors import NotFound
from core.fields import parse_time
from core.keys import generate_private_key, load_private_key, private_key_to_pem, public_key_pem
from core.vin import check_digit

PARTNERS = [
    ("acme-inspections", "Acme Vehicle Inspections", "inspector"),
    ("huacheng-jiance", "华诚二手车检测 Huacheng Inspection", "inspector"),
    ("quicklane-service", "QuickLane Service Centre", "workshop"),
    ("pudong-auto-repair", "浦东汽修 Pudong Auto Repair", "workshop"),
    ("harbor-mutual", "Harbor Mutual Insurance", "insurer"),
    ("state-registry", "State Motor Vehicle Registry", "registry"),
    ("bay-auto-sales", "Bay Auto Sales", "dealer"),
    ("golden-dragon-motors", "金龙汽车 Golden Dragon Motors", "dealer"),
]

# (WMI, model-year code (K = 2019, L = 2020), plant code, jurisdiction)
MODELS = [
    ("1HG", "K", "A", "US-CA"),
    ("1FT", "L", "F", "US-TX"),
    ("5YJ", "L", "F", "US-CA"),
    ("LSV", "K", "2", "CN-SH"),
    ("LFV", "L", "3", "CN-JL"),
    ("WVW", "K", "W", "DE-BY"),
    ("WBA", "L", "N", "DE-BY"),
    ("JTD", "K", "J", "US-WA"),
    ("KMH", "L", "U", "US-NY"),
    ("VF1", "K", "R", "FR-IDF"),
]

ROLLED_BACK = 4  # which vehicle had its odometer rolled back
FLOODED = 7  # which vehicle was in a flood
SEED = 20261122


def make_vin(rng: random.Random, wmi: str, year: str, plant: str) -> str:
    vds = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(5))
    serial = f"{rng.randrange(10**6):06d}"
    vin = f"{wmi}{vds}0{year}{plant}{serial}"
    return vin[:8] + check_digit(vin) + vin[9:]


def _t(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def _commitment(rng: random.Random) -> str:
    return hashlib.sha256(rng.randbytes(32)).hexdigest()


def vehicle_story(
    rng: random.Random, n: int, vin: str, jurisdiction: str
) -> list[tuple[str, dict]]:
    """(partner id, record) in the order things happened."""
    start = datetime(2019, 3, 1, 9, 0, tzinfo=UTC) + timedelta(days=rng.randrange(0, 700))
    km = rng.randrange(5, 60)
    t = start
    out: list[tuple[str, dict]] = [
        (
            "state-registry",
            {
                "kind": "transfer",
                "vin": vin,
                "occurred_at": _t(t),
                "owner_commitment": _commitment(rng),
                "jurisdiction": jurisdiction,
            },
        ),
    ]
    shop = rng.choice(["quicklane-service", "pudong-auto-repair"])
    for _ in range(rng.randrange(2, 5)):
        t += timedelta(days=rng.randrange(150, 330))
        km += rng.randrange(8_000, 19_000)
        out.append(
            (
                shop,
                {
                    "kind": "maintenance",
                    "vin": vin,
                    "occurred_at": _t(t),
                    "odometer_km": km,
                    "shop": shop,
                    "items": [
                        {"code": "oil-service", "description": "engine oil and filter"},
                        {"code": "brake-check", "description": "brake inspection"},
                    ],
                    "parts": [{"name": "oil filter", "quantity": 1}],
                    "cost": {"amount": f"{rng.randrange(120, 480)}.00", "currency": "USD"},
                },
            )
        )
    if n == FLOODED:
        t += timedelta(days=40)
        out.append(
            (
                "harbor-mutual",
                {
                    "kind": "insurance_claim",
                    "vin": vin,
                    "occurred_at": _t(t),
                    "odometer_km": km + 900,
                    "claim_ref": f"HM-{rng.randrange(10**7):07d}",
                    "cause": "flood",
                    "severity": "severe",
                    "areas": ["interior", "engine", "underbody"],
                    "total_loss": True,
                },
            )
        )
        t += timedelta(days=21)
        out.append(
            (
                "state-registry",
                {
                    "kind": "title_brand",
                    "vin": vin,
                    "occurred_at": _t(t),
                    "brand": "flood",
                    "jurisdiction": jurisdiction,
                    "note": "flood damage reported by insurer",
                },
            )
        )
        km += 900
    t += timedelta(days=rng.randrange(30, 120))
    inspected_km = km + rng.randrange(200, 900)
    if n == ROLLED_BACK:
        inspected_km = km // 3  # the rollback: a third of the last service reading
    flood = n == FLOODED
    # The rolled-back car is inspected by a firm that reports in its own checklist format.
    inspector = (
        "huacheng-jiance"
        if n == ROLLED_BACK
        else rng.choice(["acme-inspections", "huacheng-jiance"])
    )
    out.append(
        (
            inspector,
            {
                "kind": "inspection",
                "vin": vin,
                "occurred_at": _t(t),
                "odometer_km": inspected_km,
                "provider": inspector,
                "inspector": f"INS-{rng.randrange(1000):04d}",
                "grade": "D" if flood else rng.choice(["A", "B", "B", "C"]),
                "items": [
                    {"code": "engine", "result": "major" if flood else "ok"},
                    {"code": "transmission", "result": "ok"},
                    {"code": "electrics", "result": "fail" if flood else "ok"},
                    {
                        "code": "rear-left-door",
                        "result": rng.choice(["ok", "minor"]),
                        "note": "repainted, 180 µm",
                    },
                ],
                "flags": {
                    "accident": False,
                    "flood": flood,
                    "fire": False,
                    "structural": False,
                    "airbag": False,
                },
                "attachments": [
                    {
                        "sha256": hashlib.sha256(vin.encode()).hexdigest(),
                        "size": 734_211,
                        "media_type": "application/pdf",
                        "name": "report.pdf",
                    }
                ],
            },
        )
    )
    if n != FLOODED:
        t += timedelta(days=rng.randrange(3, 20))
        dealer = rng.choice(["bay-auto-sales", "golden-dragon-motors"])
        out.append(
            (
                dealer,
                {
                    "kind": "sale",
                    "vin": vin,
                    "occurred_at": _t(t),
                    "odometer_km": inspected_km + 12,
                    "dealer": dealer,
                    "price": {"amount": f"{rng.randrange(9, 38) * 1000}.00", "currency": "USD"},
                    "buyer_commitment": _commitment(rng),
                    "policies": [
                        {"id": "return-7d", "params": {"max_km": 500}},
                        {"id": "powertrain-30d", "params": {}},
                    ],
                },
            )
        )
        out.append(
            (
                "state-registry",
                {
                    "kind": "transfer",
                    "vin": vin,
                    "occurred_at": _t(t + timedelta(days=2)),
                    "owner_commitment": _commitment(rng),
                    "jurisdiction": jurisdiction,
                },
            )
        )
    return out


CHECKLIST = "application/vnd.checklist.inspection-report+json"


def checklist_report(rec: dict) -> dict:
    """An inspection as Huacheng writes it: its own multi-point checklist format."""
    from plugins.builtin.checklist_inspection import AIRBAG, CATALOGUE, FOUND, MEMBER, PAINT

    fine = {PAINT: 110, MEMBER: "ok", FOUND: False, AIRBAG: "intact"}
    findings = {i["code"]: i for i in rec["items"]}
    sections: dict[str, list] = {}
    for code, (section, kind) in CATALOGUE.items():
        value = fine.get(kind, "ok")
        if code == "body.rear-left-door" and "rear-left-door" in findings:
            value = 180 if findings["rear-left-door"]["result"] == "minor" else 110
        if section == "flood" and rec["flags"]["flood"] and code.endswith(("silt", "rust")):
            value = True
        sections.setdefault(section, []).append({"code": code, "value": value})
    return {
        "report_no": f"HC-{rec['occurred_at'][:4]}-{rec['odometer_km']:06d}",
        "firm": "华诚二手车检测 Huacheng Inspection",
        "inspector": rec["inspector"],
        "vin": rec["vin"],
        "inspected_at": rec["occurred_at"],
        "mileage_km": rec["odometer_km"],
        "grade": rec["grade"] if rec["grade"] in ("A", "B", "C", "D") else "C",
        "sections": sections,
        "attachments": rec.get("attachments", []),
    }


def _envelope(who: str, rec: dict, key) -> bytes:
    if who == "huacheng-jiance" and rec["kind"] == "inspection":
        payload = json.dumps(checklist_report(rec), ensure_ascii=False).encode()
        return dsse.encode_envelope(dsse.sign_envelope(payload, key, CHECKLIST))
    payload = json.dumps(rec, ensure_ascii=False).encode()
    return dsse.encode_envelope(dsse.sign_envelope(payload, key))


def seed(ledger: Ledger, vehicles: int = 20) -> str:
    """Seed partners and vehicles; returns the VIN worth looking at first."""
    keys_dir: Path = ledger.settings.data_dir / "demo-keys"
    keys_dir.mkdir(exist_ok=True)
    stories = demo_stories(vehicles)
    # Interleave the vehicles' lives in time order, as a real log would see them, and
    # log each an hour after it happened (the partners the day before the first): a
    # history logged years after its dates would be one the page warns about.
    events = sorted(
        (event for _, story in stories for event in story), key=lambda e: e[1]["occurred_at"]
    )
    real = ledger.clock
    at = parse_time(events[0][1]["occurred_at"]) - timedelta(days=1)
    try:
        ledger.clock = lambda: at
        keys = {}
        for actor_id, name, role in PARTNERS:
            path = keys_dir / f"{actor_id}.key"
            if path.exists():  # a half-seeded directory keeps the keys it handed out
                key = load_private_key(path.read_bytes())
            else:
                key = generate_private_key()
                write_secret(path, private_key_to_pem(key))
                (keys_dir / f"{actor_id}.key.pub").write_bytes(public_key_pem(key.public_key()))
            keys[actor_id] = key
            ledger.add_actor(actor_id, name, role, public_key_pem(key.public_key()))
        for who, rec in events:
            at = min(max(at, parse_time(rec["occurred_at"]) + timedelta(hours=1)), real())
            (outcome,) = ledger.submit_now([_envelope(who, rec, keys[who])])
            if isinstance(outcome, Exception):
                raise outcome
    finally:
        ledger.clock = real
    return stories[ROLLED_BACK][0]


def demo_stories(vehicles: int = 20) -> list[tuple[str, list[tuple[str, dict]]]]:
    """(VIN, story) of every demo vehicle: the same every time, from a fixed seed."""
    rng = random.Random(SEED)
    stories = []
    for n in range(vehicles):
        wmi, year, plant, juris = MODELS[n % len(MODELS)]
        vin = make_vin(rng, wmi, year, plant)
        stories.append((vin, vehicle_story(rng, n, vin, juris)))
    return stories


def notable_vehicles(ledger: Ledger, vehicles: int = 20) -> list[tuple[str, str]]:
    """(what it shows, VIN) for the demo vehicles worth a look, the rolled-back one first:
    the flooded one, one with no problems, and another one sold with guarantees. Only
    VINs this ledger holds are named, so a ledger the demo did not seed gets none."""
    rolled = flooded = clean = sold = None
    for n, (vin, _) in enumerate(demo_stories(vehicles)):
        try:
            view = ledger.history(vin)["view"]
        except NotFound:
            continue
        sales = [s for s in view["sales"] if s["policies"] and s["returned"] is None]
        if n == ROLLED_BACK:
            rolled = ("odometer rolled back", vin)
        elif n == FLOODED:
            flooded = ("flood: total loss, flood title brand", vin)
        elif clean is None and not view["alerts"]:
            clean = ("no problems reported", vin)
        elif sold is None and sales:
            sold = (f"sold with guarantees: {', '.join(sales[-1]['policies'])}", vin)
    return [v for v in (rolled, flooded, clean, sold) if v is not None]


def guide(ledger: Ledger, base: str) -> list[str]:
    """The lines ``vinledger demo`` prints about the vehicles worth a look."""
    notable = notable_vehicles(ledger)
    lines = [f"  {base}/vehicles/{vin}  {what}" for what, vin in notable]
    return ["Vehicles worth a look:", *lines] if lines else []

"""A realistic, deterministic Teamleader account: ``generate_teamleader(seed, size)``.

Same seed, size and day → the same data, byte for byte. Dates are anchored on a given day
(default: the simulators' today, :mod:`sandbox.clock`):
documents fall in this month, this quarter, this (calendar) fiscal year and last year.
Documents are built through :class:`~sandbox.teamleader.state.Account`'s own operations,
so their totals, numbers and due dates follow exactly the simulator's rules.

VAT numbers have valid check digits: Belgian ``BE0dddddddcc`` (cc = 97 − the first 8 of
the 10 digits mod 97) and Dutch ``NLdddddddddBcc`` by the mod-97 rule of the btw-id
introduced in 2020 (letters as numbers, N=23 L=21 B=11; the whole number mod 97 is 1).
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from faker import Faker

from sandbox import clock
from sandbox.teamleader.http import dumps
from sandbox.teamleader.objects import ref, timestamp
from sandbox.teamleader.state import Account, bumped, uuid5

SIZES: dict[str, tuple[int, int, int]] = {
    # customers, invoices, credit notes
    "small": (30, 60, 6),
    "medium": (200, 1_000, 60),
    "large": (1_000, 6_000, 300),
}

CATEGORIES = [
    # name, NL ledger (Visma default Dutch chart), BE ledger (PCMN 70xxxx)
    ("Consultancy", "8100", "700000"),
    ("Licenties", "8200", "700100"),
    ("Opleidingen", "8300", "700200"),
    ("Hardware", "8400", "704000"),
]

PRODUCTS = {
    "Consultancy": [
        ("Advies op locatie", "125.00"),
        ("Implementatie-uren", "95.50"),
        ("Projectmanagement", "110.00"),
        ("Strategische workshop", "1450.00"),
    ],
    "Licenties": [
        ("Jaarlicentie Koppel Pro", "899.00"),
        ("Gebruikerslicentie", "12.4950"),
        ("Supportcontract", "349.99"),
    ],
    "Opleidingen": [
        ("Training boekhouden", "395.00"),
        ("E-learning module", "49.9900"),
        ("Cursusmateriaal", "24.95"),
    ],
    "Hardware": [
        ("Bonprinter", "289.00"),
        ("Barcodescanner", "134.5000"),
        ("Kassalade", "79.95"),
        ("USB-kabel", "4.3275"),
    ],
}


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def be_vat(rng: random.Random) -> str:
    base = rng.randint(2_000_000, 9_999_999)  # 8 digits with the leading 0
    return f"BE0{base:07d}{97 - base % 97:02d}"


def nl_vat(rng: random.Random) -> str:
    digits = f"{rng.randint(10_000_000, 999_999_999):09d}"
    partial = int(f"2321{digits}1100")
    check = (1 - partial) % 97
    return f"NL{digits}B{check:02d}"


@dataclass
class _Department:
    id: str
    country: str
    rates: dict[str, str]  # role → tax rate id


def _departments(rng: random.Random, account: Account) -> list[_Department]:
    made = []
    specs = [
        (
            "Koppel Demo B.V.",
            "NL",
            nl_vat(rng),
            "Stationsplein 12",
            "3511 ED",
            "Utrecht",
            "NL91ABNA0417164300",
            "ABNANL2A",
            [
                ("21%", "0.21", "high"),
                ("9%", "0.09", "low"),
                ("0%", "0", "zero"),
                ("0% verlegd", "0", "reverse"),
                ("0% ICL", "0", "intra_eu"),
            ],
        ),
        (
            "Koppel Demo BV (België)",
            "BE",
            be_vat(rng),
            "Meir 44",
            "2000",
            "Antwerpen",
            "BE68539007547034",
            "GEBABEBB",
            [
                ("21%", "0.21", "high"),
                ("12%", "0.12", "mid"),
                ("6%", "0.06", "low"),
                ("0%", "0", "zero"),
                ("medecontractant", "0", "reverse"),
                ("intracommunautair", "0", "intra_eu"),
            ],
        ),
    ]
    for name, country, vat, street, postal, city, iban, bic, rates in specs:
        dep_id = _uuid(rng)
        account.departments[dep_id] = {
            "id": dep_id,
            "name": name,
            "vat_number": vat,
            "address": {
                "line_1": street,
                "postal_code": postal,
                "city": city,
                "country": country,
                "area_level_two": None,
            },
            "emails": [{"type": "primary", "email": f"facturen@{country.lower()}.koppel.example"}],
            "telephones": [
                {
                    "type": "phone",
                    "number": "+31 30 123 4567" if country == "NL" else "+32 3 123 45 67",
                }
            ],
            "website": "https://koppel.example",
            "currency": "EUR",
            "iban": iban,
            "bic": bic,
            "fiscal_regime": None,
            "status": "active",
        }
        roles = {}
        for description, rate, role in rates:
            rate_id = _uuid(rng)
            account.tax_rates[rate_id] = {
                "id": rate_id,
                "description": description,
                "rate": Decimal(rate),
                "department": ref("department", dep_id),
            }
            roles[role] = rate_id
        made.append(_Department(dep_id, country, roles))
    return made


def _categories(rng: random.Random, account: Account, deps: list[_Department]) -> dict[str, str]:
    ids = {}
    for name, nl_ledger, be_ledger in CATEGORIES:
        cat_id = _uuid(rng)
        account.product_categories[cat_id] = {
            "id": cat_id,
            "name": name,
            "ledgers": [
                {
                    "department": ref("department", dep.id),
                    "ledger_account_number": nl_ledger if dep.country == "NL" else be_ledger,
                }
                for dep in deps
            ],
        }
        ids[name] = cat_id
    return ids


def _payment_methods(rng: random.Random, account: Account) -> None:
    for name, status in [
        ("Overschrijving", "active"),
        ("Bancontact", "active"),
        ("iDEAL", "active"),
        ("Contant", "active"),
        ("Cheque", "archived"),
    ]:
        method_id = _uuid(rng)
        account.payment_methods[method_id] = {"id": method_id, "name": name, "status": status}


def _address(fake: Faker, rng: random.Random, country: str, addressee: str | None) -> dict:
    postal = fake.postcode() if rng.random() > 0.06 else None  # a few without postal code
    address: dict[str, Any] = {
        "line_1": fake.street_address(),
        "postal_code": postal,
        "city": fake.city(),
        "country": country,
        "area_level_two": None,
    }
    if addressee is not None:
        address["addressee"] = addressee
    return address


def _term(rng: random.Random) -> dict[str, Any] | None:
    roll = rng.random()
    if roll < 0.6:
        return None
    if roll < 0.75:
        return {"type": "end_of_month", "days": 30}
    if roll < 0.85:
        return {"type": "cash", "days": 0}
    return {"type": "after_invoice_date", "days": rng.choice([14, 21, 45, 60])}


def _customers(
    rng: random.Random, fakers: dict[str, Faker], account: Account, count: int, stamp: str
) -> list[tuple[str, str, str, bool]]:
    """Create ``count`` customers; return ``(kind, id, country, has_vat)`` for each."""
    made = []
    companies: list[str] = []
    for index in range(count):
        country = "NL" if rng.random() < 0.55 else "BE"
        fake = fakers[country]
        id_ = _uuid(rng)
        is_company = index % 5 < 3  # three in five are companies
        telephone = {"type": "phone", "number": fake.phone_number()}
        if is_company:
            name = fake.company()
            vat = (nl_vat(rng) if country == "NL" else be_vat(rng)) if rng.random() < 0.9 else None
            domain = "".join(c for c in name.lower() if c.isalnum())[:20] or "bedrijf"
            emails = [{"type": "primary", "email": f"info@{domain}.example"}]
            addresses = [{"type": "primary", "address": _address(fake, rng, country, None)}]
            if rng.random() < 0.25:
                emails.append({"type": "invoicing", "email": f"facturen@{domain}.example"})
                addresses.append(
                    {
                        "type": "invoicing",
                        "address": _address(fake, rng, country, "Crediteurenadministratie"),
                    }
                )
            body: dict[str, Any] = {
                "id": id_,
                "name": name,
                "vat_number": vat,
                "national_identification_number": vat[3:] if vat and country == "BE" else None,
                "emails": emails,
                "telephones": [telephone],
                "website": f"https://www.{domain}.example",
                "addresses": addresses,
                "iban": fake.iban(),
                "bic": None,
                "language": "nl" if country == "NL" or rng.random() < 0.6 else "fr",
                "preferred_currency": "EUR",
                "payment_term": _term(rng),
                "tags": rng.sample(["klant", "partner", "reseller", "vip"], rng.randint(0, 2)),
            }
            account.create_customer("company", body)
            companies.append(id_)
        else:
            first, last = fake.first_name(), fake.last_name()
            vat = nl_vat(rng) if country == "NL" and rng.random() < 0.15 else None
            handle = f"{first}.{last}".lower().replace(" ", "")
            addresses = [{"type": "primary", "address": _address(fake, rng, country, None)}]
            if rng.random() < 0.1:
                addresses.append(
                    {
                        "type": "invoicing",
                        "address": _address(fake, rng, country, f"{first} {last}"),
                    }
                )
            body = {
                "id": id_,
                "first_name": first,
                "last_name": last,
                "salutation": rng.choice([None, "Dhr.", "Mevr."]),
                "vat_number": vat,
                "emails": [{"type": "primary", "email": f"{handle}@{fake.free_email_domain()}"}],
                "telephones": [telephone, {"type": "mobile", "number": fake.phone_number()}],
                "addresses": addresses,
                "gender": rng.choice(["female", "male", "unknown"]),
                "language": "nl",
                "payment_term": _term(rng),
                "iban": fake.iban() if rng.random() < 0.5 else None,
                "companies": [
                    {
                        "position": "Inkoper",
                        "secondary_position": None,
                        "division": None,
                        "decision_maker": True,
                        "company": ref("company", rng.choice(companies)),
                    }
                ]
                if companies and rng.random() < 0.4
                else [],
            }
            account.create_customer("contact", body)
        info = (account.companies if is_company else account.contacts)[id_]
        info["added_at"] = info["updated_at"] = stamp
        made.append(("company" if is_company else "contact", id_, country, vat is not None))
    return made


def _invoice_date(rng: random.Random, today: date) -> date:
    month_start = today.replace(day=1)
    quarter_start = today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
    year_start = today.replace(month=1, day=1)
    last_year_start = year_start.replace(year=today.year - 1)
    bucket = rng.random()
    if bucket < 0.2:
        start, end = month_start, today
    elif bucket < 0.4:
        start, end = quarter_start, today
    elif bucket < 0.7:
        start, end = year_start, today
    else:
        start, end = last_year_start, year_start - timedelta(days=1)
    return start + timedelta(days=rng.randint(0, (end - start).days))


def _lines(rng: random.Random, dep: _Department, categories: dict[str, str], role: str) -> list:
    lines = []
    for _ in range(rng.randint(1, 8)):
        category = rng.choice(list(PRODUCTS))
        description, price = rng.choice(PRODUCTS[category])
        rate_role: str
        if role == "domestic":
            rate_role = rng.choice(
                [r for r in ("high", "high", "mid", "low", "zero") if r in dep.rates]
            )
            if category == "Opleidingen" and dep.country == "NL":
                rate_role = "low"
        else:
            rate_role = role
        quantity = (Decimal(rng.randint(1, 40)) / rng.choice([1, 1, 2, 4])).quantize(
            Decimal("0.01")
        )
        lines.append(
            {
                "description": description,
                "quantity": quantity,
                "unit_price": Decimal(price),
                "tax_rate_id": dep.rates[rate_role],
                "discount_percentage": rng.choice(
                    [None] * 6 + [Decimal(5), Decimal(10), Decimal("12.5")]
                ),
                # Some lines carry no product category: Koppel falls back to the VAT mapping.
                "product_category_id": categories[category] if rng.random() < 0.85 else None,
            }
        )
    return lines


def _at(day: date, rng: random.Random, now: datetime) -> datetime:
    moment = datetime.combine(day, time(8, 0), UTC) + timedelta(minutes=rng.randint(0, 600))
    return min(moment, now)


def _invoices(
    rng: random.Random,
    account: Account,
    deps: list[_Department],
    customers: list[tuple[str, str, str, bool]],
    categories: dict[str, str],
    count: int,
    today: date,
    now: datetime,
) -> None:
    planned = sorted(
        ((_invoice_date(rng, today), index) for index in range(count)), key=lambda p: p
    )
    for invoice_date, _ in planned:
        kind, customer_id, country, has_vat = rng.choice(customers)
        dep = next(d for d in deps if d.country == country)
        role = "domestic"
        if kind == "company" and has_vat and rng.random() < 0.15:
            dep = next(d for d in deps if d.country != country)  # a cross-border supply
            role = "intra_eu"
        elif kind == "company" and has_vat and rng.random() < 0.05:
            role = "reverse"
        currency, rate = "EUR", None
        if kind == "company" and rng.random() < 0.05:
            currency, rate = rng.choice([("USD", Decimal("1.0832")), ("GBP", Decimal("0.8571"))])
        body = {
            "id": _uuid(rng),
            "department_id": dep.id,
            "customer": {"type": kind, "id": customer_id},
            "lines": _lines(rng, dep, categories, role),
            "currency": currency,
            "currency_exchange_rate": rate,
            "purchase_order_number": f"PO-{rng.randint(1000, 99999)}"
            if rng.random() < 0.3
            else None,
            # A commercial discount on the whole document, after the line discounts.
            "discounts": [
                {
                    "type": "percentage",
                    "value": Decimal(rng.choice(["2", "5", "7.5"])),
                    "description": "Volumekorting",
                }
            ]
            if rng.random() < 0.08
            else None,
        }
        info, _ = account.draft_invoice(body)
        created = _at(invoice_date, rng, now)
        info["created_at"] = info["updated_at"] = timestamp(created)
        if rng.random() < 0.08:
            continue  # stays a draft: no number, no date
        account.book_invoice(info["id"], invoice_date.isoformat())
        roll = rng.random()
        payable = info["total"]["payable"]["amount"]
        paid_days = rng.randint(0, 40)
        paid_on = min(invoice_date + timedelta(days=paid_days), today)
        paid_at = _at(paid_on, rng, now)
        if roll < 0.45 and payable > 0:
            account.register_payment(info["id"], payable, currency, paid_at)
        elif roll < 0.55 and payable > Decimal("1.00"):
            part = (payable * Decimal(rng.choice(["0.25", "0.5", "0.6"]))).quantize(Decimal("0.01"))
            account.register_payment(info["id"], part, currency, paid_at)
        info["updated_at"] = timestamp(max(created, paid_at) if info["payments"] else created)
        if rng.random() < 0.5:
            info["sent"] = True


def _credit_notes(
    rng: random.Random, account: Account, count: int, today: date, now: datetime
) -> None:
    booked = [i for i in account.invoices.values() if i["status"] != "draft"]
    booked.sort(key=lambda i: (i["invoice_date"], i["id"]))
    chosen = sorted(
        rng.sample(booked, min(count, len(booked))), key=lambda i: (i["invoice_date"], i["id"])
    )
    for index, invoice in enumerate(chosen):
        invoice_date = date.fromisoformat(invoice["invoice_date"])
        on = min(invoice_date + timedelta(days=rng.randint(1, 30)), today)
        partial = rng.random() < 0.5
        if index < 2:
            # The first two are one full and one partial credit, so every data set, on any
            # day, has both kinds (the rest are left to chance).
            partial = index == 1
        lines = None
        if partial:
            from sandbox.teamleader.objects import compact_lines

            all_lines = compact_lines(invoice["grouped_lines"])
            lines = rng.sample(all_lines, rng.randint(1, len(all_lines)))
            reduced = len(lines) < len(all_lines)
            for line in lines:
                if rng.random() < 0.5 and line["quantity"] > 1:
                    line["quantity"] = Decimal(1)
                    reduced = True
            if not reduced:  # every line in full: credit half of the first one instead
                lines[0]["quantity"] = Decimal(str(lines[0]["quantity"])) / 2
        info, _ = account.credit_invoice(invoice["id"], lines, on.isoformat(), _uuid(rng))
        info["created_at"] = info["updated_at"] = timestamp(_at(on, rng, now))


def plain_json(value: Any) -> Any:
    """Decimals as JSON numbers (int or float), so the result is what a JSON file holds.

    A round trip through the C encoder is much faster than walking the tree in Python."""
    return json.loads(dumps(value))


def generate_teamleader(
    seed: int, size: str = "small", today: date | None = None, fiscal_year_names: bool = False
) -> dict[str, Any]:
    """The account seed and size make, its dates anchored on ``today`` (default: the
    simulators' today, :mod:`sandbox.clock`).

    ``fiscal_year_names``: the Belgian department numbers as accounts really do (issue 13):
    its fiscal years named "Boekjaar YY", invoices from a start number of the seed's
    choosing, and credit notes in a sequence of their own ("CN YYYY" from 1)."""
    customers_n, invoices_n, credit_notes_n = SIZES[size]
    rng = random.Random(seed)
    fakers = {"NL": Faker("nl_NL"), "BE": Faker("nl_BE")}
    for offset, fake in enumerate(fakers.values()):
        fake.seed_instance(seed * 7 + offset)
    today = today or clock.today()
    # The generated account's "now": the end of today's working day, or now if earlier.
    now = datetime.combine(today, time(0, 0), UTC)
    account = Account(id=uuid5("account", str(seed)))
    deps = _departments(rng, account)
    categories = _categories(rng, account, deps)
    _payment_methods(rng, account)
    if fiscal_year_names:
        _numbering(random.Random(seed * 13), account, deps, today)
    year_ago = datetime.combine(today.replace(month=1, day=1, year=today.year - 1), time(9), UTC)
    customers = _customers(rng, fakers, account, customers_n, timestamp(year_ago))
    _invoices(rng, account, deps, customers, categories, invoices_n, today, now)
    _credit_notes(rng, account, credit_notes_n, today, now)
    _ = bumped
    return plain_json(
        {
            "departments": list(account.departments.values()),
            "taxRates": list(account.tax_rates.values()),
            "productCategories": list(account.product_categories.values()),
            "paymentMethods": list(account.payment_methods.values()),
            "contacts": list(account.contacts.values()),
            "companies": list(account.companies.values()),
            "invoices": list(account.invoices.values()),
            "creditNotes": list(account.credit_notes.values()),
            **({"numbering": _numbering_entries(account)} if account.numbering else {}),
        }
    )


def _numbering(rng: random.Random, account: Account, deps: list[_Department], today: date) -> None:
    """Named fiscal years for the Belgian department (its own generator, so the rest of
    the account is the same with or without them)."""
    department = next(d for d in deps if d.country == "BE")
    for year in (today.year - 1, today.year):
        start = rng.choice([1, 1000, 17000056])
        account.set_numbering(
            {"department_id": department.id, "year": year, "name": f"Boekjaar {year % 100:02d}"}
            | {"start": start}
        )
        account.set_numbering(
            {"department_id": department.id, "kind": "creditNotes", "year": year}
            | {"name": f"CN {year}"}
        )


def _numbering_entries(account: Account) -> list[dict[str, Any]]:
    return [
        {
            "department_id": department_id,
            "kind": "invoices" if collection == "invoices" else "creditNotes",
            "year": year,
            **numbering,
        }
        for (collection, department_id, year), numbering in sorted(account.numbering.items())
    ]

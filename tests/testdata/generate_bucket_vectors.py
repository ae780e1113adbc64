#!/usr/bin/env python3
"""Writes bucket-vectors.json from an independent MurmurHash3 (PyPI's `mmh3`, a C
implementation), so that the Rust and JavaScript tests check the evaluator against
something other than itself. Deterministic: re-running it gives the same file.

    pip install mmh3==5.3.1 && python3 tests/testdata/generate_bucket_vectors.py
"""
import json
import random
from pathlib import Path

import mmh3

rng = random.Random(20261124)


def case(salt, unit, note=None):
    h = mmh3.hash((salt + unit).encode("utf-8"), 0, signed=False)
    out = {"salt": salt, "unit": unit, "hash": h, "bucket": (h * 10_000) >> 32}
    if note:
        out["note"] = note
    return out


def random_text(alphabet, length):
    return "".join(rng.choice(alphabet) for _ in range(length))


ascii_chars = [chr(c) for c in range(32, 127)]
wide_chars = list("äöüßéèçñøåæœ") + list("ユーザー日本語中文한국어") + ["😀", "🚀", "👩‍💻", "\u0301", "\u200d", "\ufffd", "\u05d0", "\u0627", "\u0000", "\r", "\t"]

cases = [
    case("domain-migration", "user-42", "spec reference"),
    case("domain-migration", "user-1", "spec reference"),
    case("domain-migration", "ユーザー", "spec reference"),
    case("salt", "😀", "spec reference"),
    case("", "", "empty salt and unit"),
    case("", "user-42", "empty salt"),
    case("domain-migration", "", "empty unit"),
    case("domain-migrationuser-", "42", "no separator: same key as the first case"),
]
for i in range(400):
    cases.append(case("domain-migration", f"user-{i}"))
for length in range(0, 40):
    cases.append(case(random_text(ascii_chars, rng.randrange(0, 24)), random_text(ascii_chars, length), "length sweep"))
for _ in range(300):
    cases.append(case(random_text(ascii_chars, rng.randrange(0, 40)), random_text(ascii_chars, rng.randrange(0, 80))))
for _ in range(300):
    salt = random_text(wide_chars + ascii_chars, rng.randrange(0, 12))
    cases.append(case(salt, random_text(wide_chars + ascii_chars, rng.randrange(0, 40)), "non-ASCII"))
for n, alphabet in enumerate([["a"], ascii_chars, wide_chars, ascii_chars, wide_chars + ascii_chars]):
    unit = random_text(alphabet, 10_240 if n % 2 == 0 else 10_241 + n)
    cases.append(case("domain-migration", unit, "10 KB id"))

path = Path(__file__).with_name("bucket-vectors.json")
path.write_text(json.dumps({"spec": 1, "generator": "mmh3 (PyPI), generate_bucket_vectors.py", "cases": cases}, ensure_ascii=False, indent=0) + "\n")
print(f"wrote {len(cases)} cases to {path}")

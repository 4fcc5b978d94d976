"""Fuzzing the input path: random and mutated CSV, JSON, JSON Lines and XLSX files.

Each input is read and validated as the CLI does (`pipelines.storage.readers.load_proposals`, as
labelled outcomes or as proposals to score). The only acceptable outcomes are a typed
frame that keeps the contract's rules, or `ContractError` whose problem table the
terminal prints (a value "[/b]" is text, not markup); anything else is a failure, saved
under bench/results/fuzz-failures/ with its index. With `--champion DIR` (an exported
model bundle, e.g. a workspace's `champion/`), the accepted inputs are also scored,
exported to CSV and XLSX, which must hold no formula-leading cell, and shown in the
ranked table the terminal prints.

Inputs come from a seeded generator, so input i of a run is the same whatever the
number of workers: `--replay I` regenerates it. The mix: tables built from the
contract's columns with a random share of broken cells (CSV with comma or semicolon,
three encodings; JSON with typed and nested values; JSON Lines; XLSX), byte-level
mutations of those, and mutations of the committed corpus under tests/corpus.

    OMP_NUM_THREADS=1 .venv/bin/python bench/fuzz.py                 # 100,000 inputs, writes results
    OMP_NUM_THREADS=1 .venv/bin/python bench/fuzz.py --count 2000 --no-write
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import json
import math
import multiprocessing
import os
import random
import shlex
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl

from model.config import Column, Config
from model.validation import BOOLEAN_WORDS, ContractError
from pipelines.cli import console
from pipelines.settings import load_config
from pipelines.storage.readers import load_proposals

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "fuzz.md"
FAILURES = ROOT / "bench" / "results" / "fuzz-failures"
CORPUS = ROOT / "tests" / "corpus"
KINDS = {"csv": 40, "json": 17, "jsonl": 17, "xlsx": 8, "mutated": 18}  # percent of inputs
SUFFIXES = {"csv": ".csv", "json": ".json", "jsonl": ".jsonl", "xlsx": ".xlsx"}
TOKENS = [b'"', b",", b";", b"\n", b"\r", b"\r\n", b"\x00", b"\xef\xbb\xbf", b"{", b"}", b"[", b"]",
          b"NaN", b"Infinity", b"1e999", b'"\\ud800"', b"=1+1", b"\t", b"\xff\xfe", b"\xe9", b"\x81",
          b"<!DOCTYPE x [<!ENTITY a \"aaaa\">]>", b"&a;", b"PK\x03\x04", b"PAR1", b"-", b"|"]
WORDS = ["", " ", "\t", "nan", "inf", "-1", "0", "1e400", "1,5", "1,000", "=SUM(A1)", "@x", "+1",
         "2026-03", "2026-13", "March", "true", "oui", "maybe", "null", "None", "#N/A", "\u00a0",
         "\u2028", "\ufeff", "\x00", "\x1b[31m", "\ufffe", "a\rb", 'say "hi"', "é", "日本", "😀",
         "[/b]", "[bold]x", "[Acme] Studio", "[link=x]y[/link]", "\\[x]"]  # terminal markup
SKIPPED_SEEDS = ("zip_bomb.xlsx", "overlong_field.csv")  # slow by design; covered by the tests


@dataclass
class Tally:
    """What a run found, per kind of input."""

    inputs: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, Any]] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        """Merge another worker's tally into this one."""
        self.inputs.update(other.inputs)
        self.accepted.update(other.accepted)
        self.refused.update(other.refused)
        self.failures += other.failures


# --- generation ----------------------------------------------------------------------


def random_text(rng: random.Random, limit: int = 12) -> str:
    """Short text from mixed pools: ASCII, accents, any BMP character, controls, tricky words."""
    pool = rng.randrange(5)
    if pool == 0:
        return rng.choice(WORDS)
    size = rng.randrange(limit + 1)
    if pool == 1:
        return "".join(chr(rng.randrange(32, 127)) for _ in range(size))
    if pool == 2:
        return "".join(chr(rng.randrange(0, 0x250)) for _ in range(size))
    if pool == 3:
        return "".join(chr(rng.randrange(0, 0xD800)) for _ in range(size))
    return "".join(chr(rng.randrange(0, 32)) for _ in range(size))


def valid_cell(rng: random.Random, column: Column) -> str:
    """A value the column's rule accepts, in a spelling people use."""
    if column.type in ("category", "ordinal"):
        word = rng.choice([*column.values, *column.aliases])
        return rng.choice([word, word.upper(), word.replace("_", " "), f" {word} "])
    if column.type == "boolean":
        return rng.choice(sorted(BOOLEAN_WORDS)).upper() if rng.random() < 0.2 else rng.choice(
            sorted(BOOLEAN_WORDS))
    if column.type == "period":
        return f"{rng.randrange(1990, 2100)}-{rng.randrange(1, 13):02d}"
    if column.type in ("number", "integer"):
        low = column.min if column.min is not None else -1e6
        high = column.max if column.max is not None else 1e6
        lowest = math.floor(low) + 1 if column.min_exclusive else math.ceil(low)
        if column.type == "integer" or rng.random() < 0.5:
            return str(rng.randint(lowest, math.floor(min(high, 1e12))))
        value = rng.uniform(max(low, -1e6), min(high, 1e6)) or high
        return repr(value) if rng.random() < 0.7 else f"{value:.2f}".replace(".", ",")
    word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzé _-") for _ in range(rng.randint(1, 10)))
    return word.strip() or "x"


def messy_cell(rng: random.Random, column: Column, required: bool, mess: float) -> str:
    """A valid value or, with probability `mess`, something else."""
    if rng.random() >= mess:
        return "" if not required and rng.random() < 0.1 else valid_cell(rng, column)
    edges = [v for v in (column.min, column.max) if v is not None]
    if edges and rng.random() < 0.3:
        return repr(rng.choice(edges) + rng.choice([-1, 1, 0.5, 0]))
    return random_text(rng)


def random_table(rng: random.Random, config: Config, labelled: bool) -> tuple[list[str], list[list[str]]]:
    """A header from the contract's columns (some dropped, some unknown added) and 0-6 rows."""
    mess = rng.choice([0.0, 0.0, 0.02, 0.1, 0.5, 1.0])
    columns = [c for c in config.columns if c.required != "no" or rng.random() < 0.5]
    if columns and rng.random() < mess:
        columns.remove(rng.choice(columns))
    rng.shuffle(columns)
    header = [c.name if rng.random() > 0.05 else c.name.upper() for c in columns]
    extra = rng.randrange(3) if rng.random() < 0.3 else 0
    header += [random_text(rng) or "notes" for _ in range(extra)]
    rows = [[messy_cell(rng, c, c.required_for(labelled), mess) for c in columns]
            + [random_text(rng) for _ in range(extra)] for _ in range(rng.randrange(7))]
    if "proposal_id" in header:
        at = header.index("proposal_id")
        for number, cells in enumerate(rows):
            cells[at] = rng.choice(["p1", "p2"]) if rng.random() < mess else f"p{number}"
    return header, rows


def as_json_value(rng: random.Random, text: str, strange: float) -> Any:
    """The cell as a program might have typed it, or (with probability `strange`) a
    stranger JSON value."""
    if rng.random() < strange:
        return rng.choice([None, [], {}, [1, "a"], {"x": 1}, 10**30, -0.0, float("nan"),
                           float("inf"), True, "\ud800"])
    if rng.random() < 0.5:
        lowered = text.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    return text


def render_csv(rng: random.Random, header: list[str], rows: list[list[str]]) -> bytes:
    """Comma or semicolon CSV in UTF-8, UTF-8 with BOM or Windows-1252."""
    buffer = io.StringIO()
    # "\n" lines with minimal quoting leave a lone "\r" in a cell bare: an ambiguous file on purpose
    ending, quote_all = rng.choice([("\r\n", False), ("\n", True), ("\n", False)])
    delimiter = rng.choice(",;")
    if quote_all:
        csv.writer(buffer, delimiter=delimiter, lineterminator=ending, quoting=csv.QUOTE_ALL).writerows(
            [header, *rows])
    else:
        csv.writer(buffer, delimiter=delimiter, lineterminator=ending).writerows([header, *rows])
    return buffer.getvalue().encode(rng.choice(["utf-8", "utf-8-sig", "cp1252"]), errors="replace")


def render_json(rng: random.Random, header: list[str], rows: list[list[str]], lines: bool) -> bytes:
    """A JSON array of objects, or JSON Lines."""
    strange = rng.choice([0.0, 0.0, 0.02, 0.1])
    records = [{k: as_json_value(rng, v, strange) for k, v in zip(header, cells, strict=True)}
               for cells in rows]
    if lines:
        return "\n".join(json.dumps(r) for r in records).encode()
    return json.dumps(records, indent=rng.choice([None, 1])).encode()


def render_xlsx(rng: random.Random, header: list[str], rows: list[list[str]]) -> bytes:
    """A workbook with the table on its first sheet; cells typed as a spreadsheet would."""
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Proposals")
    strange = rng.choice([0.0, 0.0, 0.02, 0.1])
    clean = [[_xml_safe(v) for v in header]]
    clean += [[as_json_value(rng, _xml_safe(v), strange) for v in cells] for cells in rows]
    for cells in clean:
        sheet.append([v if isinstance(v, str | int | float | bool) or v is None else str(v) for v in cells])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _xml_safe(text: str) -> str:
    return "".join(ch if ch in "\t\n\r" or 32 <= ord(ch) < 0xD800 or 0xE000 <= ord(ch) < 0xFFFE else "?"
                   for ch in text)


def mutate(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """1-4 byte-level edits: flips, token insertions, deletions, duplications, splices, cuts."""
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(buffer) + 1)
        op = rng.randrange(6)
        if op == 0 and buffer:
            buffer[min(at, len(buffer) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            buffer[at:at] = rng.choice(TOKENS)
        elif op == 2:
            del buffer[at:at + rng.randint(1, 64)]
        elif op == 3:
            buffer[at:at] = buffer[at:at + rng.randint(1, 64)]
        elif op == 4 and seeds:
            other = rng.choice(seeds)
            start = rng.randrange(len(other) + 1)
            buffer[at:at] = other[start:start + rng.randint(1, 128)]
        else:
            del buffer[at:]
    return bytes(buffer)


def mutate_workbook(rng: random.Random, data: bytes) -> bytes:
    """Edit the XML inside a workbook (keeping the archive readable), or its raw bytes."""
    import zipfile

    if rng.random() < 0.3:
        return mutate(rng, data, [])
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    name = rng.choice(sorted(parts))
    parts[name] = mutate(rng, parts[name], [])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for part, content in parts.items():
            target.writestr(part, content)
    return buffer.getvalue()


def corpus_seeds() -> dict[str, bytes]:
    """The committed corpus and the workbooks and Parquet files the tests build."""
    sys.path.insert(0, str(ROOT / "tests"))
    from corpus.generated import BUILDERS

    seeds = {p.name: p.read_bytes() for p in sorted(CORPUS.iterdir())
             if p.suffix in (".csv", ".txt", ".json", ".jsonl")}
    seeds.update({name: build() for name, build in BUILDERS.items() if name not in SKIPPED_SEEDS})
    return seeds


def generate(index: int, seed: int, config: Config, seeds: dict[str, bytes]) -> tuple[str, str, bytes, bool]:
    """Input `index` of the run: (kind, file name, bytes, labelled)."""
    rng = random.Random(seed * 1_000_003 + index)
    kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
    labelled = rng.random() < 0.5
    if kind == "mutated":
        name = rng.choice(sorted(seeds))
        return kind, name, mutate(rng, seeds[name], list(seeds.values())), labelled
    header, rows = random_table(rng, config, labelled)
    if kind == "csv":
        data = render_csv(rng, header, rows)
    elif kind == "xlsx":
        data = render_xlsx(rng, header, rows)
        data = mutate_workbook(rng, data) if rng.random() < 0.3 else data
    else:
        data = render_json(rng, header, rows, lines=kind == "jsonl")
    if kind != "xlsx" and rng.random() < 0.2:
        data = mutate(rng, data, [])
    return kind, f"input{SUFFIXES[kind]}", data, labelled


# --- checking ------------------------------------------------------------------------


def check_frame(typed: Any, config: Config, labelled: bool) -> None:
    """The rules a validated frame must keep."""
    assert len(typed) > 0
    for column in config.columns:
        if column.required_for(labelled):
            assert column.name in typed and typed[column.name].notna().all(), column.name
    assert typed[config.role("id")].is_unique


def check_exports(bundle: Any, typed: Any) -> None:
    """Scoring and spreadsheet exports of accepted proposals: no formula-leading cell."""
    from pipelines.jobs.predict import score_batch
    from pipelines.report.formats import FORMULA_STARTS, to_csv, to_json, to_xlsx

    batch = score_batch(bundle, typed)
    to_json(batch).decode("utf-8")
    rows = list(csv.reader(io.StringIO(to_csv(batch).decode("utf-8"), newline="")))[1:]
    assert len(rows) == len(typed), "the CSV export has more rows than proposals"
    for row in rows:
        assert not any(cell.startswith(FORMULA_STARTS) for cell in row), row
    openpyxl.load_workbook(io.BytesIO(to_xlsx(batch)), read_only=True).close()
    _terminal(functools.partial(console.ranked_table, batch, "fuzz"))


_BUFFER = io.StringIO()


def _terminal(show: Callable[[], None]) -> None:
    """Print what the CLI would print to its terminal, into a buffer: it must not raise."""
    if console.out.file is not _BUFFER:
        for name in ("out", "err"):
            setattr(console, name, console._Output(file=_BUFFER, width=150))
    _BUFFER.seek(0)
    _BUFFER.truncate()
    show()


def run_one(index: int, seed: int, config: Config, seeds: dict[str, bytes], folder: Path,
            bundle: Any, tally: Tally) -> None:
    """Generate input `index`, read and validate it, and tally what happened."""
    kind, name, data, labelled = generate(index, seed, config, seeds)
    tally.inputs[kind] += 1
    path = folder / f"{index}-{name}"
    path.write_bytes(data)
    try:
        try:
            typed = load_proposals(path, config, labelled=labelled)
            check_frame(typed, config, labelled)
            if bundle is not None:
                check_exports(bundle, typed.drop(columns=[c for c in typed
                                                          if c not in bundle.config.by_name]))
            tally.accepted[kind] += 1
        except ContractError as error:  # refused: its report must print, whatever it quotes
            str(error).encode("utf-8")
            _terminal(functools.partial(console.contract_report, error))
            tally.refused[kind] += 1
    except Exception as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        tally.failures.append({"index": index, "kind": kind, "name": name, "labelled": labelled,
                               "error": f"{type(exc).__name__}: {exc}"[:300],
                               "where": f"{Path(frame.filename).name}:{frame.lineno}", "data": data})
    finally:
        path.unlink(missing_ok=True)


def run_range(job: tuple[int, int, int, str | None]) -> Tally:
    """One worker: inputs start..stop-1 of the run with this seed."""
    start, stop, seed, champion = job
    config = load_config()
    seeds = corpus_seeds()
    bundle = None
    if champion:
        from pipelines.storage.bundle import load_bundle

        bundle = load_bundle(Path(champion))
        config = bundle.config
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="partnerscore-fuzz-") as folder:
        for index in range(start, stop):
            run_one(index, seed, config, seeds, Path(folder), bundle, tally)
    return tally


# --- reporting -----------------------------------------------------------------------


def save_failures(failures: list[dict[str, Any]]) -> None:
    """Each failing input as a file named by its index, plus an index of errors."""
    FAILURES.mkdir(parents=True, exist_ok=True)
    for failure in failures:
        suffix = Path(failure["name"]).suffix or ".bin"
        (FAILURES / f"{failure['index']}{suffix}").write_bytes(failure["data"])
    listing = [{k: v for k, v in f.items() if k != "data"} for f in failures]
    (FAILURES / "failures.json").write_text(json.dumps(listing, indent=1), "utf-8")


def report(tally: Tally, seconds: float, command: str, jobs: int, champion: str | None) -> str:
    """The markdown summary."""
    total = sum(tally.inputs.values())
    scored = [] if not champion else [
        "Accepted inputs were also scored and exported (JSON, CSV, XLSX) with the bundle given to "
        "--champion: the `champion/` of a workspace trained on the sample history "
        "(`partnerscore --workspace W train --data data/sample/history.csv`).", ""]
    lines = [
        "# Fuzzing the input path" + (", scoring and exports" if champion else ""), "",
        f"Command: `{command}`", "", *scored,
        f"Date: {date.today().isoformat()}; {os.cpu_count()} cores (shared), {jobs} worker(s), "
        f"Python {sys.version.split()[0]}.", "",
        f"**{total:,} inputs in {seconds:,.0f} s ({total / max(seconds, 1e-9):,.0f} inputs/s); "
        f"{len(tally.failures)} failures.**", "",
        "| kind | inputs | accepted | refused (ContractError) | failures |", "|---|---:|---:|---:|---:|",
    ]
    failures = Counter(f["kind"] for f in tally.failures)
    for kind in KINDS:
        lines.append(f"| {kind} | {tally.inputs[kind]:,} | {tally.accepted[kind]:,} | "
                     f"{tally.refused[kind]:,} | {failures[kind]:,} |")
    if tally.failures:
        lines += ["", "Failures by error and place (inputs saved in bench/results/fuzz-failures/):", ""]
        signatures = Counter(f"{f['error'].split(':')[0]} at {f['where']}" for f in tally.failures)
        lines += [f"- {count} × {signature}" for signature, count in signatures.most_common()]
    lines += ["", "A failure is any exception other than ContractError from reading and validating "
              "(`load_proposals`), a refused input whose problem table the terminal cannot "
              "print, a validated frame that breaks a rule, or, with --champion, an exception or "
              "a formula-leading cell when scoring, exporting and printing the ranked table."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the fuzzer; the exit status is 1 when any input failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="Inputs to run (default 100,000).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the run.")
    parser.add_argument("--jobs", type=int, default=1, help="Worker processes (default 1).")
    parser.add_argument("--champion", help="Exported model bundle: also score and export accepted inputs.")
    parser.add_argument("--replay", type=int, help="Write input REPLAY of the run to stdout and stop.")
    parser.add_argument("--no-write", action="store_true", help="Print the results without writing them.")
    parser.add_argument("--append", action="store_true", help="Add the results to bench/results/fuzz.md.")
    args = parser.parse_args(argv)
    if args.replay is not None:
        _, name, data, labelled = generate(args.replay, args.seed, load_config(), corpus_seeds())
        print(f"{name} labelled={labelled}", file=sys.stderr)
        sys.stdout.buffer.write(data)
        return 0
    bounds = [args.count * i // args.jobs for i in range(args.jobs + 1)]
    jobs = [(bounds[i], bounds[i + 1], args.seed, args.champion) for i in range(args.jobs)]
    started = time.perf_counter()
    tally = Tally()
    if args.jobs == 1:
        tally = run_range(jobs[0])
    else:
        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            for part in pool.imap_unordered(run_range, jobs):
                tally.add(part)
    seconds = time.perf_counter() - started
    command = "OMP_NUM_THREADS=1 .venv/bin/python bench/fuzz.py " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    text = report(tally, seconds, command.strip(), args.jobs, args.champion)
    print(text)
    if tally.failures:
        save_failures(tally.failures)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        if args.append and RESULTS.exists():
            text = RESULTS.read_text("utf-8") + "\n" + text.replace("# Fuzzing", "## Fuzzing", 1)
        RESULTS.write_text(text, "utf-8")
    return 1 if tally.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())

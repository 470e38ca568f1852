"""`./dev mutate [MODULE ...]`: mutation testing of the pure rule modules.

Each mutant is one small change to one module (a comparison flipped, a boolean operator
swapped, a number moved by one, a constant flipped, a statement removed, an arithmetic
operator swapped); the module's own unit tests run against it, and a mutant that leaves them
green survives. The score is killed / (all - equivalent). Equivalent mutants (no behaviour
can tell them apart) are listed, with the reason, in tools/mutation_equivalents.toml, by
module, the line's text and the change, so they stay matched when code moves.

The working tree is never changed: each mutant is written into a copy of its package in a
temporary directory put first on PYTHONPATH, which shadows the installed package for that
one pytest run.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENTS = Path(__file__).with_name("mutation_equivalents.toml")

# module name -> (source file, its package directory, its unit tests)
MODULES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "figures": (
        "services/collector/palaute_collector/figures.py",
        "services/collector/palaute_collector",
        ("tests/unit/test_figures.py",),
    ),
    "send_window": (
        "schemas/palaute_schemas/send_window.py",
        "schemas/palaute_schemas",
        ("tests/unit/test_release_rules.py", "tests/unit/test_follow_up_rules.py"),
    ),
    "release_rules": (
        "services/consent/palaute_consent/rules.py",
        "services/consent/palaute_consent",
        ("tests/unit/test_consent_rules.py", "tests/unit/test_release_rules.py"),
    ),
    "flow": (
        "services/dispatcher/palaute_dispatcher/flow.py",
        "services/dispatcher/palaute_dispatcher",
        ("tests/unit/test_flow.py", "tests/unit/test_failover.py"),
    ),
    "failover": (
        "services/dispatcher/palaute_dispatcher/failover.py",
        "services/dispatcher/palaute_dispatcher",
        ("tests/unit/test_failover.py",),
    ),
    "content_policy": (
        "services/dispatcher/palaute_dispatcher/content_policy.py",
        "services/dispatcher/palaute_dispatcher",
        ("tests/unit/test_invitation_content.py",),
    ),
    "scores": (
        "services/collector/palaute_collector/scores.py",
        "services/collector/palaute_collector",
        (
            "tests/unit/test_scores.py",
            "tests/unit/test_reply_grammar.py",
            "tests/unit/test_catalogues.py",
        ),
    ),
    "call_requests": (
        "services/collector/palaute_collector/call_requests.py",
        "services/collector/palaute_collector",
        ("tests/unit/test_reply_grammar.py",),
    ),
    "i18n": (
        "runtime/palaute_runtime/i18n.py",
        "runtime/palaute_runtime",
        ("tests/unit/test_catalogues.py", "tests/unit/test_reply_grammar.py"),
    ),
    "catalogue_tools": (
        "runtime/palaute_runtime/catalogue_tools.py",
        "runtime/palaute_runtime",
        ("tests/unit/test_catalogues.py",),
    ),
    "gsm7": (
        "services/dispatcher/palaute_dispatcher/gsm7.py",
        "services/dispatcher/palaute_dispatcher",
        ("tests/unit/test_catalogues.py", "tests/unit/test_sms_and_settings.py"),
    ),
    "bounces": (
        "services/dispatcher/palaute_dispatcher/bounces.py",
        "services/dispatcher/palaute_dispatcher",
        ("tests/unit/test_bounces.py",),
    ),
    "twilio": (
        "runtime/palaute_runtime/twilio.py",
        "runtime/palaute_runtime",
        ("tests/unit/test_twilio.py",),
    ),
    "elks": (
        "runtime/palaute_runtime/elks.py",
        "runtime/palaute_runtime",
        ("tests/unit/test_elks.py",),
    ),
    "programmes": (
        "runtime/palaute_runtime/programmes.py",
        "runtime/palaute_runtime",
        ("tests/unit/test_programmes.py",),
    ),
}

# Of a module that also does I/O, the pure part alone (top-level names): the rest is proved
# by the integration and e2e tests, which a mutant run does not run.
ONLY: dict[str, frozenset[str]] = {
    "bounces": frozenset(
        {
            "Verp",
            "_same",
            "Bounce",
            "TAG_HEX",
            "VERP_EXTRA",
            "ENVELOPE_HEADERS",
            "_STATUS",
            "_HARMLESS",
            "_FAILED",
            "_REPORT_TYPES",
            "_action",
            "read_dsn",
            "_other_bounce",
            "_invitation_named",
            "_recipient_fields",
            "_diagnostic",
        }
    ),
}

_COMPARISONS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_ARITHMETIC: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.FloorDiv: ast.Mult,
    ast.Div: ast.Mult,
    ast.Mod: ast.FloorDiv,
}


@dataclass(frozen=True)
class Mutant:
    """One change to a module: where, what it was, what it became."""

    line: int
    text: str  # the source line, stripped: how an equivalent is recognised
    change: str  # e.g. "< -> <="
    source: str  # the whole mutated module


class _Sites(ast.NodeVisitor):
    """Every place a mutation applies, as (node, kind, index of the alternative)."""

    def __init__(self) -> None:
        self.sites: list[tuple[ast.AST, str]] = []
        self._docstrings: set[int] = set()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._undecorated(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._undecorated(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._undecorated(node)

    def _undecorated(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        """A decorator's arguments (frozen=True, maxsize=256) are how a class or function is
        built, not a rule: not mutated."""
        decorators = node.decorator_list
        node.decorator_list = []
        try:
            self.generic_visit(node)
        finally:
            node.decorator_list = decorators

    def generic_visit(self, node: ast.AST) -> None:
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        value = first.value if isinstance(first, ast.Expr) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            self._docstrings.add(id(first))
        super().generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        self.sites += [(node, f"compare:{n}") for n in range(len(node.ops))]
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        self.sites.append((node, "boolop"))
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if type(node.op) in _ARITHMETIC:
            self.sites.append((node, "binop"))
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            self.sites.append((node, "not"))
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, bool):
            self.sites.append((node, "bool"))
        elif isinstance(node.value, int | float) and not isinstance(node.value, bool):
            self.sites += [(node, "number:+1"), (node, "number:-1")]

    def visit_Return(self, node: ast.Return) -> None:
        returns_none = isinstance(node.value, ast.Constant) and node.value.value is None
        if node.value is not None and not returns_none:
            self.sites.append((node, "return-none"))
        self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        if _is_logging(node.value):
            return  # what a log line says (its words, its rounding) is no rule
        if id(node) not in self._docstrings:
            self.sites.append((node, "delete"))
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        alias = isinstance(node.value, ast.Subscript) and all(
            isinstance(target, ast.Name) and target.id[:1].isupper() for target in node.targets
        )
        if not alias:  # a type alias (Clock = Callable[[], float]) is no statement of a rule
            self.sites.append((node, "delete"))
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.sites.append((node, "delete"))
        self.generic_visit(node)

    def visit_If(self, node: ast.If) -> None:
        self.sites.append((node, "if-true"))
        self.generic_visit(node)


def _is_logging(value: ast.expr) -> bool:
    """A call of the module's logger (`log.info(...)`): what it says is no rule's behaviour."""
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and isinstance(value.func.value, ast.Name)
        and value.func.value.id in ("log", "logger")
    )


def _apply(node: ast.AST, kind: str) -> str | None:
    """Change one node in place; the change's description, or None when it does not apply."""
    if kind.startswith("compare:"):
        assert isinstance(node, ast.Compare)
        n = int(kind.split(":")[1])
        old = node.ops[n]
        new = _COMPARISONS[type(old)]()
        node.ops[n] = new
        return f"{_op(old)} -> {_op(new)}"
    if kind == "boolop":
        assert isinstance(node, ast.BoolOp)
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        return "and <-> or"
    if kind == "binop":
        assert isinstance(node, ast.BinOp)
        old_op = node.op
        node.op = _ARITHMETIC[type(old_op)]()
        return f"{_op(old_op)} -> {_op(node.op)}"
    if kind == "bool":
        assert isinstance(node, ast.Constant)
        node.value = not node.value
        return f"{not node.value} -> {node.value}"
    if kind.startswith("number:"):
        assert isinstance(node, ast.Constant)
        step = 1 if kind.endswith("+1") else -1
        old_value = node.value
        assert isinstance(old_value, int | float)
        node.value = old_value + step
        return f"{old_value} -> {node.value!r}"
    return None


def _op(op: ast.AST) -> str:
    return {
        ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
        ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.Add: "+",
        ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Div: "/", ast.Mod: "%",
    }.get(type(op), type(op).__name__)  # fmt: skip


class _Replace(ast.NodeTransformer):
    """Replace one statement or expression node by another."""

    def __init__(self, target: ast.AST, kind: str) -> None:
        self.target, self.kind = target, kind

    def visit(self, node: ast.AST) -> ast.AST:
        if node is not self.target:
            visited: ast.AST = super().visit(node)
            return visited
        if self.kind == "delete":
            return ast.copy_location(ast.Pass(), node)
        if self.kind == "not":
            assert isinstance(node, ast.UnaryOp)
            return node.operand
        if self.kind == "return-none":
            assert isinstance(node, ast.Return)
            return ast.copy_location(ast.Return(value=ast.Constant(value=None)), node)
        if self.kind == "if-true":
            assert isinstance(node, ast.If)
            node.test = ast.copy_location(ast.Constant(value=True), node.test)
            return node
        return node


def mutants(path: Path, only: frozenset[str] | None = None) -> Iterator[Mutant]:
    """Every mutant of a module (of its top-level names in `only`), one change at a time."""
    text = path.read_text()
    lines = text.splitlines()
    count = len(_sites(text, only))
    seen: dict[tuple[int, str], int] = {}  # the same change twice on a line: numbered
    for index in range(count):
        tree: ast.AST = ast.parse(text)
        node, kind = _sites_of(tree, only)[index]
        line = getattr(node, "lineno", 0)
        change = _apply(node, kind)
        if change is None:
            labels = {
                "delete": "statement removed",
                "not": "not removed",
                "return-none": "returns None",
                "if-true": "condition always true",
            }
            change = labels[kind]
            tree = _Replace(node, kind).visit(tree)
        ast.fix_missing_locations(tree)
        nth = seen[line, change] = seen.get((line, change), 0) + 1
        if nth > 1:
            change = f"{change} (#{nth} on the line)"
        yield Mutant(line, lines[line - 1].strip() if line else "", change, ast.unparse(tree))


def _sites_of(tree: ast.AST, only: frozenset[str] | None = None) -> list[tuple[ast.AST, str]]:
    finder = _Sites()
    finder.visit(tree)
    if only is None:
        return finder.sites
    kept = {
        id(node)
        for statement in getattr(tree, "body", [])
        if _names(statement) & only
        for node in ast.walk(statement)
    }
    return [(node, kind) for node, kind in finder.sites if id(node) in kept]


def _names(statement: ast.stmt) -> set[str]:
    """The top-level names a statement defines."""
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {statement.name}
    if isinstance(statement, ast.Assign):
        return {t.id for t in statement.targets if isinstance(t, ast.Name)}
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return {statement.target.id}
    return set()


def _sites(text: str, only: frozenset[str] | None = None) -> list[tuple[ast.AST, str]]:
    return _sites_of(ast.parse(text), only)


def equivalents() -> dict[str, list[dict[str, str]]]:
    """The recorded equivalent mutants, by module."""
    if not EQUIVALENTS.exists():
        return {}
    loaded = tomllib.loads(EQUIVALENTS.read_text())
    return {name: list(entries) for name, entries in loaded.items()}


def run_module(
    name: str, *, timeout: float, show: int, jobs: int
) -> tuple[int, int, int, list[Mutant]]:
    """Mutate one module, `jobs` mutants at a time; (killed, equivalent, all, survivors)."""
    source, package, tests = MODULES[name]
    missing = [test for test in tests if not (ROOT / test).is_file()]
    if missing:  # pytest would fail on them, and every mutant would count as killed
        print(f"error: {name}'s tests are missing: {', '.join(missing)}", file=sys.stderr)
        raise SystemExit(2)
    known = {(e["line"], e["change"]) for e in equivalents().get(name, [])}
    all_mutants = list(mutants(ROOT / source, ONLY.get(name)))
    to_run = [m for m in all_mutants if (m.text, m.change) not in known]
    equivalent = len(all_mutants) - len(to_run)
    started = time.monotonic()
    done: list[tuple[Mutant, bool]] = []
    lock = threading.Lock()
    with tempfile.TemporaryDirectory(prefix="palaute-mutant-") as scratch:
        shadows = []
        for n in range(jobs):  # one copy of the package per worker
            root = Path(scratch) / str(n)
            shutil.copytree(
                ROOT / package,
                root / Path(package).name,
                ignore=shutil.ignore_patterns("__pycache__"),
            )
            shadows.append(root)
        free = list(shadows)

        def attempt(mutant: Mutant) -> None:
            with lock:
                root = free.pop()
            try:
                survived = _survives(mutant, root, root / Path(package).name / Path(source).name,
                                     tests, timeout)  # fmt: skip
            finally:
                with lock:
                    free.append(root)
            with lock:
                done.append((mutant, survived))
                if len(done) % 10 == 0 or len(done) == len(to_run):
                    print(
                        f"  {name}: {len(done)}/{len(to_run)} mutants run, "
                        f"{sum(s for _, s in done)} survived ({time.monotonic() - started:.0f} s)",
                        file=sys.stderr,
                        flush=True,
                    )

        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(attempt, to_run))
    survivors = sorted((m for m, survived in done if survived), key=lambda m: m.line)
    for mutant in survivors[:show]:
        print(f"    survived {source}:{mutant.line}: {mutant.change}    {mutant.text}")
    killed = len(done) - len(survivors)
    return killed, equivalent, len(all_mutants), survivors


def _survives(
    mutant: Mutant, root: Path, target: Path, tests: tuple[str, ...], timeout: float
) -> bool:
    """Run the module's tests against one mutant: whether they stay green."""
    target.write_text(mutant.source)
    env = os.environ | {
        "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "PYTHONDONTWRITEBYTECODE": "1",
        # Only the plugins the unit tests need: a test run starts in half the time.
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    try:
        result = subprocess.run(  # noqa: S603 (our own interpreter, our own arguments)
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
             "-p", "asyncio", "-p", "pytest_timeout", "-o", "addopts=", *tests],
            cwd=ROOT, env=env, capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return False  # a mutant that hangs the tests is caught by their timeout
    return result.returncode == 0


def main(argv: list[str] | None = None) -> None:
    """Entry point of ./dev mutate."""
    parser = argparse.ArgumentParser(
        prog="./dev mutate",
        description="Mutation testing of the pure rule modules against their unit tests: the "
        "score (killed / non-equivalent mutants) and the surviving mutants.",
    )
    parser.add_argument(
        "modules", nargs="*", metavar="MODULE", help=f"any of: {', '.join(MODULES)} (all)"
    )
    parser.add_argument("--timeout", type=float, default=20, help="seconds per test run (20)")
    parser.add_argument("--show", type=int, default=50, help="survivors to print per module")
    parser.add_argument("--min-score", type=float, default=0.0, help="exit 1 below it (%%)")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="mutants at once (the cores)"
    )
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        print(f"error: no such module: {', '.join(unknown)} (see --help)", file=sys.stderr)
        raise SystemExit(2)
    rows = []
    for name in args.modules or list(MODULES):
        print(f"{name}: {MODULES[name][0]}", flush=True)
        killed, equivalent, total, survivors = run_module(
            name, timeout=args.timeout, show=args.show, jobs=max(1, args.jobs)
        )
        counted = total - equivalent
        score = 100.0 * killed / counted if counted else 100.0
        rows.append((name, total, equivalent, killed, len(survivors), score))
    print("\nmodule            mutants  equivalent  killed  survived  score")
    for name, total, equivalent, killed, survived, score in rows:
        print(
            f"{name:<17} {total:>7}  {equivalent:>10}  {killed:>6}  {survived:>8}  {score:5.1f} %"
        )
    if any(score < args.min_score for *_, score in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()

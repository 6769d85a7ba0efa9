"""What the code says, read without running it: the services and the consumers they create.

A service is a package with `services/<name>/__main__.py`. A deployed workload is a
service, or any other entry `switchboard up` runs (`switchboard.registry.SERVICES`: the
privacy worker `switchboard.privacy`), except the sandbox-only Twilio emulator. Its
durable consumers are found in its source: `PartitionedConsumer(bus, "<service>",
"<kind>", ...)` creates one consumer per partition, named by `shared.consumer.durable_name`;
`BatchConsumer(bus, "<durable>", ...)` and `ConsumerConfig(durable_name="<durable>")`
create one. Arguments may be string literals or module-level string constants.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from shared.consumer import durable_name

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"


def services_in_code() -> list[str]:
    return sorted(p.parent.name for p in SERVICES.glob("*/__main__.py"))


def workloads_in_code() -> dict[str, str]:
    """Every process a deployment runs, by name: `python -m <module>`. The registry's
    entries (but the sandbox-only emulator) and every package under services/, so a
    service the registry does not list yet is still expected to be deployed."""
    from switchboard.registry import SERVICES as ENTRIES

    found = {name: f"services.{name}" for name in services_in_code()}
    found.update((entry.name, entry.module) for entry in ENTRIES if not entry.sandbox_only)
    return dict(sorted(found.items()))


def _package(name: str) -> Path:
    """The source directory of a workload (`switchboard/privacy`) or of a library under
    services/ (`services/reminders`)."""
    module = workloads_in_code().get(name, f"services.{name}")
    return ROOT.joinpath(*module.split("."))


@dataclass(frozen=True)
class ConsumerUse:
    service: str
    kind: str | None  # set for a partitioned consumer
    durable: str | None  # set for a single durable consumer
    where: str

    def names(self, partitions: int) -> set[str]:
        if self.kind is not None:
            return {durable_name(self.service, self.kind, p) for p in range(partitions)}
        return {self.durable}  # type: ignore[arg-type]


class Unresolved(Exception):
    pass


def _string_constants(trees: list[ast.Module]) -> dict[str, str]:
    constants: dict[str, str] = {}
    for tree in trees:
        for node in tree.body:
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            else:
                continue
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                for target in targets:
                    if isinstance(target, ast.Name):
                        constants[target.id] = value.value
    return constants


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return call.args[position] if len(call.args) > position else None


def _resolve(node: ast.expr | None, constants: dict[str, str], where: str) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    if name is not None and name in constants:
        return constants[name]
    raise Unresolved(
        f"{where}: cannot tell which consumer this creates; pass a string literal or a "
        f"module-level string constant so the deploy tests can check the KEDA triggers"
    )


def _called(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


# Libraries in services/ that a service's process runs (services.reminders in outbound).
RUNS = {"outbound": ("reminders",)}


def consumers_run_by(service: str) -> list[ConsumerUse]:
    """Every durable consumer `service`'s process creates, its libraries' included."""
    return [*consumers_of(service), *(use for library in RUNS.get(service, ()) for use in consumers_of(library, service))]


def consumers_of(service: str, owner: str | None = None) -> list[ConsumerUse]:
    """The durable consumers `service`'s code creates (empty for a service that consumes none)."""
    files = sorted(_package(service).rglob("*.py"))
    trees = {path: ast.parse(path.read_text(), str(path)) for path in files}
    shared = [ast.parse(p.read_text()) for p in sorted((ROOT / "shared").glob("**/*.py"))]
    constants = _string_constants([*shared, *trees.values()])
    uses: list[ConsumerUse] = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            called = _called(node)
            if called == "PartitionedConsumer":
                owner = _resolve(_argument(node, 1, "service"), constants, where)
                kind = _resolve(_argument(node, 2, "kind"), constants, where)
                uses.append(ConsumerUse(owner, kind, None, where))
            elif called == "BatchConsumer":
                uses.append(ConsumerUse(service, None, _resolve(_argument(node, 1, "durable"), constants, where), where))
            elif called == "ConsumerConfig":
                argument = _argument(node, 10_000, "durable_name")
                if argument is not None:
                    uses.append(ConsumerUse(owner or service, None, _resolve(argument, constants, where), where))
    return uses

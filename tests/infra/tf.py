"""Terraform in infra/ as plain data (python-hcl2), for the contract tests.

`load(infra_dir)` parses every *.tf file of the root module and of each modules/<name>/ into a
`Module` per directory. Values are what python-hcl2 serialises: literals as Python values,
expressions as "${...}" strings. Nothing is evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

_OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, with_comments=False)


@dataclass(frozen=True)
class Block:
    kind: str  # "resource" or "data"
    type: str
    name: str
    body: dict[str, Any]
    module: str  # "" for the root module, else the modules/<name> folder name

    @property
    def address(self) -> str:
        prefix = f"module.{self.module}." if self.module else ""
        kind = "data." if self.kind == "data" else ""
        return f"{prefix}{kind}{self.type}.{self.name}"


@dataclass
class Module:
    path: Path
    resources: list[Block] = field(default_factory=list)
    data: list[Block] = field(default_factory=list)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    module_calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)

    def resource(self, type_: str, name: str) -> Block:
        for block in self.resources:
            if block.type == type_ and block.name == name:
                return block
        raise KeyError(
            f"expected resource {type_}.{name} in {self.path}. Found: {self.addresses()}"
        )

    def of_type(self, type_: str) -> list[Block]:
        return [b for b in self.resources if b.type == type_]

    def addresses(self) -> list[str]:
        return [b.address for b in self.resources + self.data]


def load(infra_dir: Path) -> dict[str, Module]:
    """Modules by name: "" is the root, "poll_queue" is infra/modules/poll_queue."""
    modules = {"": _load_module(infra_dir, "")}
    for sub in sorted((infra_dir / "modules").glob("*/")):
        modules[sub.name] = _load_module(sub, sub.name)
    return modules


def all_blocks(modules: dict[str, Module]) -> Iterator[Block]:
    for module in modules.values():
        yield from module.resources
        yield from module.data


def first(value: Any) -> Any:
    """A nested block as a dict: python-hcl2 gives single blocks as one-element lists."""
    if isinstance(value, list):
        assert len(value) == 1, f"expected one block. Found: {len(value)}"
        return value[0]
    return value


def references(expression: Any) -> str:
    """An expression as text, for asserting what it refers to."""
    return expression if isinstance(expression, str) else repr(expression)


def walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair at any depth."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key, inner
            yield from walk(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from walk(inner)


def _load_module(path: Path, name: str) -> Module:
    module = Module(path=path)
    for tf_file in sorted(path.glob("*.tf")):
        with tf_file.open(encoding="utf-8") as fh:
            doc = hcl2.load(fh, serialization_options=_OPTIONS)
        for kind, target in (("resource", module.resources), ("data", module.data)):
            for entry in doc.get(kind, []):
                for type_, named in entry.items():
                    for block_name, body in named.items():
                        target.append(Block(kind, type_, block_name, body, name))
        for entry in doc.get("variable", []):
            module.variables.update(entry)
        for entry in doc.get("output", []):
            module.outputs.update(entry)
        for entry in doc.get("module", []):
            module.module_calls.update(entry)
        for entry in doc.get("locals", []):
            module.locals.update(entry)
        module.terraform.extend(doc.get("terraform", []))
    return module


_LOCAL = re.compile(r"\$\{local\.(\w+)\}")
_MERGE_LOCAL = re.compile(r"\$\{merge\(local\.(\w+), \{(.*)\}\)\}", re.DOTALL)
_STRING_PAIR = re.compile(r'(\w+) = "((?:[^"\\]|\\.)*)"')


def resolve(value: Any, module: Module) -> Any:
    """A local's value where `value` names one whole ("${local.x}"), or merges one with a
    literal map of strings ("${merge(local.x, {K = "v"})}"); anything else as it is."""
    if isinstance(value, str):
        if match := _LOCAL.fullmatch(value):
            return module.locals[match[1]]
        if match := _MERGE_LOCAL.fullmatch(value):
            return {**module.locals[match[1]], **dict(_STRING_PAIR.findall(match[2]))}
    return value


def function_call(root: Module, name: str) -> dict[str, Any]:
    """A call of infra/modules/function with its locals resolved: what that function is given
    (build, environment_variables, secret_environment_variables, sizing, depends_on...)."""
    call = dict(root.module_calls[name])
    assert call["source"] == "./modules/function", f"{name}: {call['source']}"
    call["build"] = resolve(call["build"], root)
    call["environment_variables"] = resolve(call.get("environment_variables", {}), root)
    call.setdefault("secret_environment_variables", [])
    return call


def duration_seconds(text: str) -> float:
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)s", text)
    assert match, f"expected a duration such as '30s'. Found: {text!r}"
    return float(match.group(1))

"""Typed views of config sections, and the config hash recorded in every result."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import typing
from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple, Type, TypeVar

from .errors import MissingInput, UserError

T = TypeVar("T")

# The training objectives a variant can name (openvclip.train), and those whose training keeps an SWA average
# unless train.swa says otherwise (FROSTER averages as released). Here, not in openvclip.train, so the workflow's
# plan reads them without importing torch.
OBJECTIVES = ("frozen", "finetune", "openvclip", "froster")
SWA_BY_DEFAULT = ("openvclip", "froster")


def keeps_swa(swa: Any, objective: str) -> bool:
    """Whether a training keeps an SWA average: as its ``train.swa`` says, or (unset) by its objective."""
    return swa if swa is not None else objective in SWA_BY_DEFAULT


# `train:` keys one objective reads and the others ignore (openvclip.train.loop), and those only a training that
# keeps an SWA average reads. A training's settings leave out the keys it ignores, so changing one (train.lam)
# retrains the variants that read it, in Snakemake and in DVC alike; tests/test_fit.py checks they are ignored.
OBJECTIVE_KEYS = {
    "openvclip": ("alpha_low", "alpha_high", "lam", "gradient"),
    "froster": ("distill_weight", "distill_residual", "distill_distance", "train_text"),
}
SWA_KEYS = ("swa_start_epoch", "swa_every")


def ignored_train_keys(objective: str, swa: Any) -> Tuple[str, ...]:
    """The `train:` keys a training of ``objective`` (with ``train.swa`` = ``swa``) does not read."""
    ignored = [k for other, keys in OBJECTIVE_KEYS.items() if other != objective for k in keys]
    return tuple(ignored + ([] if keeps_swa(swa, objective) else list(SWA_KEYS)))


def from_mapping(cls: Type[T], values: Mapping[str, Any] | None, section: str) -> T:
    """Build dataclass ``cls`` from a config section, rejecting unknown keys and wrong types by name."""
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise UserError(f"unknown key(s) {unknown} in config section '{section}'; allowed: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        expected = hints[key]
        origin = typing.get_origin(expected)
        allowed = typing.get_args(expected) if origin is typing.Union else (origin or expected,)
        allowed = tuple(a for a in allowed if isinstance(a, type))
        if float in allowed and isinstance(value, int) and not isinstance(value, bool):
            values[key] = float(value)
            continue
        if allowed and not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            names = " or ".join(a.__name__ for a in allowed)
            raise UserError(f"config key '{section}.{key}' must be {names}, got {value!r}")
    obj = cls(**values)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate()
    return obj


def merge_over(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict:
    """``override`` over ``base``: mappings merge key by key, anything else (lists included) is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_over(merged[key], value)
        else:
            merged[key] = value
    return merged


def resolve_base(config: Mapping[str, Any], root) -> dict:
    """A config that names ``base: <file>`` is that file's config with its own keys merged over it (bases may
    chain). The path is relative to ``root``, the workflow's folder, so a config copied over config.yaml keeps
    working. The paper configs share ``config/paper_base.yaml`` this way: each model's file holds what differs."""
    import yaml

    config, seen = dict(config), []
    while "base" in config:
        path = Path(root) / str(config.pop("base"))
        if path in seen:
            raise UserError(f"config bases form a loop: {' -> '.join(map(str, seen + [path]))}")
        if not path.is_file():
            raise MissingInput(
                f"config key 'base' names {path}, which does not exist (paths are relative "
                f"to the workflow folder {root})"
            )
        seen.append(path)
        config = merge_over(yaml.safe_load(path.read_text()) or {}, config)
    return config


def shipped_datasets(root) -> Dict[str, List[str]]:
    """Data set name -> the config files in ``<root>/config/`` that define it (with their bases; a file that is
    only a base of others, such as config/paper_base.yaml, is not one to run)."""
    import yaml

    # The paper's own configs first: the first one defining a set is the one an error message suggests.
    paths = sorted(Path(root, "config").glob("*.yaml"), key=lambda p: (not p.name.startswith("paper_"), p.name))
    raw = {f"config/{path.name}": yaml.safe_load(path.read_text()) or {} for path in paths}
    bases = {str(c.get("base")) for c in raw.values() if c.get("base")}
    found: Dict[str, List[str]] = {}
    for name, content in raw.items():
        if name not in bases:
            for ds in resolve_base(content, root).get("datasets") or {}:
                found.setdefault(ds, []).append(name)
    return found


def config_hash(config: Mapping[str, Any]) -> str:
    """Short, stable hash of a config (key order does not matter)."""
    blob = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _key_path(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


SCHEMA = Path("workflow") / "schemas" / "config.schema.yaml"  # relative to the workflow folder


def load_schema(schema_path) -> dict:
    import yaml

    with open(schema_path) as f:
        return yaml.safe_load(f)


def validate_config(config: Mapping[str, Any], schema_path, source: str = "config") -> dict:
    """Validate a config against the workflow's JSON schema and return it with the schema's defaults filled in
    (a new dict: ``config`` is not changed). Raise one UserError naming every bad key.

    Beyond the schema, checks the cross-references (train_set, experiments, variants, weights_of).
    """
    import jsonschema

    schema = load_schema(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(e.path)):
        key = _key_path(error.path)
        if error.validator == "additionalProperties":
            allowed = sorted(error.schema.get("properties", {}))
            extra = sorted(set(error.instance) - set(allowed))
            problems.append(f"unknown key(s) {extra} under '{key}'; allowed: {allowed}")
        elif error.validator == "enum":
            problems.append(f"key '{key}' = {error.instance!r} is not allowed; allowed values: {error.validator_value}")
        elif error.validator == "oneOf":
            problems.append(
                f"key '{key}' = {json.dumps(error.instance)[:120]} matches none of the allowed forms "
                f"({error.schema.get('description', 'see the schema')})"
            )
        else:
            problems.append(f"key '{key}': {error.message}")
    filled = copy.deepcopy(dict(config))
    if not problems:
        fill_defaults(filled, schema, schema)
        problems = _cross_reference_problems(filled)
    if problems:
        raise UserError(f"{source} is invalid (schema: {schema_path}):\n  - " + "\n  - ".join(problems))
    return filled


_NO_DEFAULT = object()


def _deref(schema: Mapping, root: Mapping) -> Mapping:
    """A local ``$ref`` (``#/$defs/name``) resolved; the schema uses no other kind."""
    while "$ref" in schema:
        node = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def fill_defaults(instance: Any, schema: Mapping, root: Mapping) -> None:
    """Set every ``default`` of the schema whose key is absent from ``instance``, in place, following
    ``properties``, ``additionalProperties``, ``allOf``, ``if``/``then``/``else`` and local ``$ref`` (a default
    written beside a ``$ref`` wins over the referenced one). A filled-in object gets its own keys' defaults too.
    Branches of ``oneOf`` are never entered: which one applies is not known while filling."""
    import jsonschema

    schema = _deref(schema, root)
    if not isinstance(instance, dict):
        return
    for part in schema.get("allOf", []):
        fill_defaults(instance, part, root)
    if "if" in schema:
        matches = jsonschema.Draft202012Validator({**schema["if"], "$defs": root.get("$defs", {})}).is_valid(instance)
        branch = schema.get("then" if matches else "else")
        if branch is not None:
            fill_defaults(instance, branch, root)
    properties = schema.get("properties", {})
    for key, part in properties.items():
        if key not in instance:
            default = part.get("default", _deref(part, root).get("default", _NO_DEFAULT))
            if default is _NO_DEFAULT:
                continue
            instance[key] = copy.deepcopy(default)
        fill_defaults(instance[key], part, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key in set(instance) - set(properties):
            fill_defaults(instance[key], extra, root)


def schema_defaults(schema_path, *keys: str) -> dict:
    """The defaults the schema gives the section at ``keys`` (e.g. ``"train"``): what an empty section becomes."""
    root = load_schema(schema_path)
    schema = root
    for key in keys:
        schema = _deref(schema, root)
        schema = next(
            p["properties"][key] for p in [schema, *schema.get("allOf", [])] if key in p.get("properties", {})
        )
    section: dict = {}
    fill_defaults(section, schema, root)
    return section


def _cross_reference_problems(config: Mapping[str, Any]) -> list:
    problems = []
    datasets, variants, experiments = config["datasets"], config["variants"], config["experiments"]
    if config["train_set"] not in datasets:
        problems.append(f"key 'train_set' = {config['train_set']!r} is not a data set; allowed: {sorted(datasets)}")
    for name in [config["main_experiment"]] + list(config.get("study", [])):
        if name not in experiments:
            problems.append(
                f"experiment {name!r} (main_experiment/study) is not defined; defined: {sorted(experiments)}"
            )
    report = config["report"]
    for key in ("method", "baseline", "frozen"):
        if key in report and report[key] not in variants:
            problems.append(f"key 'report.{key}' = {report[key]!r} is not a variant; allowed: {sorted(variants)}")
    for name in report.get("without_temporal", []):
        if name not in variants:
            problems.append(f"key 'report.without_temporal' names {name!r}, not a variant; allowed: {sorted(variants)}")
    for name, variant in variants.items():
        source = variant.get("weights_of")
        if source is not None and (source not in variants or "objective" not in variants[source]):
            trained = sorted(v for v in variants if "objective" in variants[v])
            problems.append(f"key 'variants.{name}.weights_of' = {source!r}; allowed: {trained}")
        for dataset in variant.get("datasets", []):
            if dataset not in datasets:
                problems.append(f"key 'variants.{name}.datasets' names {dataset!r}; allowed: {sorted(datasets)}")
    for name, experiment in experiments.items():
        source = experiment.get("models_from")
        if source is not None:
            if source not in experiments:
                problems.append(f"key 'experiments.{name}.models_from' = {source!r}; allowed: {sorted(experiments)}")
            elif any(experiments[source].get(k) != experiment.get(k) for k in ("labels", "train")):
                problems.append(
                    f"key 'experiments.{name}.models_from' = {source!r}: its labels and train "
                    "overrides differ, so its weights are not this experiment's"
                )
        for dataset in experiment.get("datasets", []):
            if dataset not in datasets:
                problems.append(f"key 'experiments.{name}.datasets' names {dataset!r}; allowed: {sorted(datasets)}")
        for variant in experiment.get("variants", []):
            if variant not in variants:
                problems.append(f"key 'experiments.{name}.variants' names {variant!r}; allowed: {sorted(variants)}")
    if not problems:
        problems += _swa_problems(config)
    train = config.get("train", {})
    if train.get("alpha_low", 0) > train.get("alpha_high", 0.6):
        problems.append("key 'train.alpha_low' must not exceed 'train.alpha_high'")
    return problems


def _swa_problems(config: Mapping[str, Any]) -> list:
    """A variant set to evaluate an SWA average (``weights: swa``, its own or its source's) in an experiment whose
    training of it keeps none."""
    variants, experiments = config["variants"], config["experiments"]
    problems = []
    for exp, experiment in experiments.items():
        for name in experiment.get("variants", list(variants)):
            source = variants[name].get("weights_of", name)
            which = variants[name].get("weights") or variants[source].get("weights")
            swa = {**config["train"], **experiment.get("train", {})}["swa"]
            if which == "swa" and not keeps_swa(swa, variants[source]["objective"]):
                problems.append(
                    f"variants.{name}.weights is swa, but the training of {source} in experiment {exp} keeps no "
                    f"SWA average (train.swa is off, or unset for an objective other than "
                    f"{' or '.join(SWA_BY_DEFAULT)}): set train.swa: true, or weights: last"
                )
    return problems


def _kind(schema: Mapping, root: Mapping) -> str:
    """A schema's allowed values in a few words (for the key reference)."""
    schema = _deref(schema, root)
    if "enum" in schema:
        return " \\| ".join(str(v) for v in schema["enum"])
    if "const" in schema:
        return str(schema["const"])
    if "oneOf" in schema and any("type" in s or "const" in s or "$ref" in s for s in schema["oneOf"]):
        return " or ".join(_kind(s, root) for s in schema["oneOf"])
    kind = schema.get("type", "object" if "properties" in schema else "")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    bounds = [
        f"{op} {schema[key]}"
        for key, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="))
        if key in schema
    ]
    if kind == "array" and "items" in schema:
        kind = f"list of {_kind(schema['items'], root)}"
    return " ".join([kind, *bounds]).strip() or "any"


def _reference_rows(schema: Mapping, root: Mapping, prefix: str, rows: list, shown: set) -> None:
    """Rows of the keys under ``schema``; a ``$def`` whose keys are ``shown`` already is not listed again."""
    if schema.get("$ref") in shown:
        return
    shown.update(p["$ref"] for p in [schema, *schema.get("allOf", [])] if "$ref" in p)
    schema = _deref(schema, root)
    parts = [schema, *(_deref(p, root) for p in schema.get("allOf", []))]
    properties: Dict[str, dict] = {}
    for part in parts:
        for key, sub in part.get("properties", {}).items():
            properties[key] = {**properties.get(key, {}), **sub}
    for key, sub in properties.items():
        path = f"{prefix}{key}"
        target = _deref(sub, root)
        default = sub.get("default", target.get("default", _NO_DEFAULT))
        description = sub.get("description", target.get("description", ""))
        written = "" if default is _NO_DEFAULT else json.dumps(default)
        rows.append((path, _kind(sub, root), written, " ".join(str(description).split())))
        _reference_rows(sub, root, f"{path}.", rows, shown)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        if "if" in extra:  # the data sets: a real one (a format) or a synthetic one
            _reference_rows(extra["then"], root, f"{prefix}<name> (real).", rows, shown)
            _reference_rows(extra["else"], root, f"{prefix}<name> (synthetic).", rows, shown)
        else:
            _reference_rows(extra, root, f"{prefix}<name>.", rows, shown)


def schema_reference(schema_path) -> str:
    """Every key of the config as a markdown table (key, allowed values, default, what it does), as
    config/README.md lists them (tests/test_config.py keeps the two equal)."""
    root = load_schema(schema_path)
    rows: list = []
    _reference_rows(root, root, "", rows, set())
    required = set(root.get("required", []))
    lines = ["| key | allowed | default | what it does |", "| --- | --- | --- | --- |"]
    for path, kind, default, description in rows:
        name = f"`{path}`" + (" (required)" if path in required else "")
        lines.append(f"| {name} | {kind} | {f'`{default}`' if default else ''} | {description} |")
    return "\n".join(lines) + "\n"

"""Class descriptions: prompts built from a sentence about each class rather than from its bare name.

FROSTER (ICLR 2024) replaces each class name with a rephrased description and reports better zero-shot accuracy.
Two file formats are read, told apart by their content:

- ``map`` (ours, for users who write their own): a JSON or YAML mapping ``class name -> [description, ...]``
  (a single string is taken as a one-item list), keyed by our class names exactly.
- ``froster``: FROSTER's released ``label_rephrase/*_rephrased_classes.json``, a JSON object
  ``{"0": "Abseiling: This video shows ...", ...}``, one ``"Class Name: description"`` per class. Its names are
  spelled otherwise than ours (``Apply Eye Makeup`` for ``apply eye makeup``), so they are matched after
  :func:`normalise` (case and every character but letters and digits dropped); the few classes the released
  files reword (``Driving a car`` for ``driving car``) need an alias: our name -> the released name.

The prompts follow FROSTER's released model (``temporalclip_video_model.py``, ``text_prompt``): at test time each
template is filled with the released name and followed by the whole released line, and the bare line is one prompt
more (28 + 1 with the paper's templates); in training one template is drawn per step and the bare line is kept.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import yaml

from ..errors import MissingInput, UserError

FORMATS = ("map", "froster")
SUFFIXES = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}
SHOWN = 10  # missing classes named in one message: a whole data set's worth would drown the fix


@dataclasses.dataclass(frozen=True)
class ClassText:
    """What the text side knows of one class.

    ``name`` is what the templates' ``{}`` receives: our class name (``map`` format) or the released name, the text
    before the first ':' (``froster`` format, as FROSTER's model formats it). ``descriptions`` empty: name only.
    """

    name: str
    descriptions: Tuple[str, ...]


def normalise(name: str) -> str:
    """The key names are matched by: ``Apply Eye Makeup``, ``ApplyEyeMakeup`` and ``apply_eye_makeup`` agree."""
    return re.sub(r"[^a-z0-9]", "", name.casefold())


def read_descriptions(path, classnames: Sequence[str], aliases: Optional[Mapping[str, str]] = None) -> List[ClassText]:
    """One ClassText per class of `classnames`, in that order."""
    path = Path(path)
    return _parse(path, _load(path), classnames, aliases)


def read_description_files(
    paths: Sequence,
    classnames: Sequence[str],
    aliases: Optional[Mapping[str, str]] = None,
    optional: Sequence[str] = (),
) -> List[ClassText]:
    """One ClassText per class from several files, each class from the first file that has it (FROSTER ships the
    K600 novel classes as one file per split). A class none has is refused, unless ``optional`` (a class no split
    scores: the K600 classes outside every split): it keeps its bare name."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise UserError("no class descriptions file given")
    remaining, found, first_kind = list(classnames), {}, None
    for path in paths:
        data = _load(path)  # each file is read and parsed once
        kind = detect_format(data)
        first_kind = first_kind or kind
        keys = _entry_keys(data, kind)
        have = [c for c in remaining if _entry_key(kind, (aliases or {}).get(c, c)) in keys]
        found.update(zip(have, _parse(path, data, have, aliases) if have else []))
        remaining = [c for c in remaining if c not in found]
    missing = [c for c in remaining if c not in set(optional)]
    _refuse_missing(", ".join(map(str, paths)), missing, first_kind, [])
    return [found.get(c, ClassText(c, ())) for c in classnames]


def _parse(path: Path, data: dict, classnames: Sequence[str], aliases: Optional[Mapping[str, str]]) -> List[ClassText]:
    """:func:`read_descriptions` on a file already loaded."""
    aliases = _check_aliases(path, aliases)
    if detect_format(data) == "froster":
        return _from_froster(path, data, classnames, aliases)
    return _from_map(path, data, classnames, aliases)


def _entry_key(kind: str, name: str) -> str:
    """How a file of ``kind`` keys the class ``name`` (the released files: by the name before the ':', compared
    after :func:`normalise`; ours: exactly)."""
    return normalise(name) if kind == "froster" else name


def _entry_keys(data: dict, kind: str) -> set:
    """The keys of the classes a parsed file of ``kind`` has entries for (see :func:`_entry_key`)."""
    if kind == "froster":
        return {_entry_key(kind, line.split(":", 1)[0]) for line in data.values()}
    return set(data)


def detect_format(data) -> str:
    """``froster`` when every key is a non-negative integer and every value a string with a ':' (the released
    layout), else ``map``. Content decides, not the file name: users rename files."""
    if not isinstance(data, dict) or not data:
        return "map"
    if all(_index_of(key) is not None for key in data) and all(isinstance(v, str) and ":" in v for v in data.values()):
        return "froster"
    return "map"


def _index_of(key) -> Optional[int]:
    """``"3"`` (JSON) or ``3`` (YAML) -> 3; anything else None."""
    if isinstance(key, bool):
        return None
    if isinstance(key, int):
        return key if key >= 0 else None
    if isinstance(key, str) and re.fullmatch(r"[0-9]+", key):
        return int(key)
    return None


def _load(path: Path):
    """The parsed file; every way it can be unusable is the user's to fix, so each names the file."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise UserError(
            f"class descriptions file {path}: unknown suffix {path.suffix!r}; use one of {', '.join(SUFFIXES)} "
            "(JSON or YAML)"
        )
    if not path.is_file():
        raise MissingInput(f"class descriptions file {path} does not exist; check the path")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read class descriptions file {path}: {error}; save it as UTF-8 text") from error
    try:
        data = json.loads(text) if kind == "json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        message = " ".join(str(error).split())
        raise UserError(f"class descriptions file {path} is not valid {kind.upper()}: {message}") from error
    if not isinstance(data, dict) or not data:
        got = "an empty mapping" if isinstance(data, dict) else f"a {type(data).__name__}"
        raise UserError(
            f"class descriptions file {path} holds {got}; it must map class name -> list of descriptions, or be "
            'FROSTER\'s {"0": "Class Name: description", ...}'
        )
    return data


def _check_aliases(path: Path, aliases: Optional[Mapping[str, str]]) -> Dict[str, str]:
    if aliases is None:
        return {}
    if not isinstance(aliases, Mapping):
        raise UserError(f"aliases for {path} must map our class name -> the name in the file, got {aliases!r}")
    for ours, theirs in aliases.items():
        if not isinstance(ours, str) or not isinstance(theirs, str) or not theirs.strip():
            raise UserError(
                f"alias {ours!r}: {theirs!r} for {path} must map our class name (a string) to the class name "
                "the file uses (a non-empty string)"
            )
    return dict(aliases)


def _from_map(path: Path, data: dict, classnames: Sequence[str], aliases: Mapping[str, str]) -> List[ClassText]:
    """Our format: exact keys (an alias may point a class at another key); the file may hold more classes."""
    keys = {c: aliases.get(c, c) for c in classnames}
    for ours, key in aliases.items():
        if ours in keys and key not in data:
            raise UserError(f"alias {ours!r}: {key!r} for {path}: the file has no class {key!r}; fix the alias")
    missing = [c for c in classnames if keys[c] not in data]
    if missing and all(_index_of(key) is not None for key in data):
        colonless = [key for key, value in data.items() if not (isinstance(value, str) and ":" in value)]
        raise UserError(
            f"class descriptions file {path} is keyed by numbers as FROSTER's released files are, but entry "
            f"{colonless[0]!r} is not a 'Class Name: description' string; every entry must be one"
        )
    claimed = set(keys.values())
    _refuse_missing(path, missing, "map", [key for key in data if isinstance(key, str) and key not in claimed])
    return [ClassText(c, _descriptions(path, c, data[keys[c]])) for c in classnames]


def _descriptions(path: Path, classname: str, value) -> Tuple[str, ...]:
    """A class's list of descriptions; a single string is a list of one. Empty ones are refused: an empty prompt
    would still be embedded and averaged into the class, silently pulling it towards every other class."""
    items = [value] if isinstance(value, str) else value
    fix = "give a list of one or more non-empty strings"
    if not isinstance(items, list) or not items:
        raise UserError(f"class {classname!r} in {path}: descriptions {value!r} are not a non-empty list; {fix}")
    for item in items:
        if not isinstance(item, str):
            raise UserError(f"class {classname!r} in {path}: description {item!r} is not a string; {fix}")
        if not item.strip():
            raise UserError(f"class {classname!r} in {path}: a description is empty; {fix}")
    return tuple(items)


def _from_froster(path: Path, data: dict, classnames: Sequence[str], aliases: Mapping[str, str]) -> List[ClassText]:
    """FROSTER's released layout: each line's head names the class, matched to ours after :func:`normalise`."""
    lines = {}  # normalised released name -> (index, released name, whole line)
    for key in sorted(data, key=_index_of):
        line = data[key]
        head = line.split(":", 1)[0].strip()
        if not normalise(head):
            raise UserError(f"entry {key!r} of {path} has no class name before its ':' ({line[:60]!r}); add one")
        if normalise(head) in lines:
            other = lines[normalise(head)]
            raise UserError(
                f"entries {other[0]!r} ({other[1]!r}) and {key!r} ({head!r}) of {path} name the same class once case, "
                "spaces and punctuation are ignored; remove or rename one"
            )
        lines[normalise(head)] = (key, head, line)
    wanted = {c: normalise(aliases.get(c, c)) for c in classnames}
    for ours, theirs in aliases.items():
        if ours in wanted and normalise(theirs) not in lines:
            near = _closest(theirs, [entry[1] for entry in lines.values()])
            hint = f" (closest: {near!r})" if near else ""
            raise UserError(
                f"alias {ours!r}: {theirs!r} for {path}: the file has no class {theirs!r}{hint}; "
                "give the released name, the text before the ':'"
            )
    missing = [c for c in classnames if wanted[c] not in lines]
    claimed = set(wanted.values())
    _refuse_missing(path, missing, "froster", [entry[1] for key, entry in lines.items() if key not in claimed])
    _refuse_shared(path, classnames, wanted, lines)
    return [ClassText(lines[wanted[c]][1], (lines[wanted[c]][2],)) for c in classnames]


def _refuse_shared(path: Path, classnames: Sequence[str], wanted: Mapping[str, str], lines: Mapping) -> None:
    """Two of our classes given the same released line would get the same classifier column: never meant."""
    first: Dict[str, str] = {}
    for c in classnames:
        if wanted[c] in first and first[wanted[c]] != c:
            raise UserError(
                f"classes {first[wanted[c]]!r} and {c!r} both match {lines[wanted[c]][1]!r} of {path}; "
                "point one of them at its own entry with an alias"
            )
        first.setdefault(wanted[c], c)


def _closest(name: str, candidates: Sequence[str]) -> Optional[str]:
    """The candidate most like ``name``, ignoring case (``driving car`` -> ``Driving a car``): the likely alias."""
    by_key = {c.casefold(): c for c in candidates}
    near = difflib.get_close_matches(name.casefold(), list(by_key), n=1, cutoff=0.8)
    return by_key[near[0]] if near else None


def _refuse_missing(path: Path, missing: Sequence[str], kind: str, unclaimed: Sequence[str]) -> None:
    """All missing classes in one message (fixing them one run at a time would be slow), the first few named."""
    if not missing:
        return
    shown = []
    for c in missing[:SHOWN]:
        near = _closest(c, unclaimed)
        shown.append(f"{c!r} (closest in the file: {near!r})" if near else repr(c))
    more = f" and {len(missing) - SHOWN} more" if len(missing) > SHOWN else ""
    if kind == "froster":
        fix = (
            "add them to the file, or, where the file words a class otherwise, map our name to its name under "
            "aliases (e.g. driving car: Driving a car)"
        )
    else:
        fix = "add them to the file, keyed by the class name exactly as given here"
    raise UserError(f"{len(missing)} class(es) have no description in {path}: {', '.join(shown)}{more}; {fix}")


def _templates(templates: Sequence[str]) -> tuple:
    """The templates, checked as everywhere else; imported here because ``text`` imports this module."""
    from .text import check_templates

    return check_templates(templates)


def class_prompts(text: ClassText, templates: Sequence[str]) -> List[str]:
    """Every prompt of a class at test time: without descriptions, each template with the name; with descriptions,
    each template with the name followed by ' ' and each description, then each description alone (FROSTER's 28+1)."""
    templates = _templates(templates)
    if not text.descriptions:
        return [t.format(text.name) for t in templates]
    filled = [f"{t.format(text.name)} {d}" for t in templates for d in text.descriptions]
    return filled + list(text.descriptions)


def step_prompts(text: ClassText, templates: Sequence[str], index: int) -> List[str]:
    """The prompts of one training step with template `index` drawn: template(name) [+ ' ' + d for each d] and each
    description alone (FROSTER draws one template per step and keeps the bare description)."""
    templates = _templates(templates)
    if not 0 <= index < len(templates):
        raise IndexError(f"template index {index} outside 0..{len(templates) - 1}")
    template = templates[index]
    if not text.descriptions:
        return [template.format(text.name)]
    return [f"{template.format(text.name)} {d}" for d in text.descriptions] + list(text.descriptions)

"""Config sections, declared where they are used: typed classes and one shared validator.

Each part of hpsearch declares the section of the experiment file it reads as a
:class:`Section`, a pydantic v2 model: the budget in ``search/budget.py``, each strategy's
options in its own module, the data source in ``data/source.py``, the model beside the
estimators, backends in ``execution/backends.py``, outputs and the verdict in ``results/``.
``hpsearch/config.py`` composes them. Pydantic, rather than dataclasses with a validator of
our own, because it gives the JSON Schema (Draft 2020-12) editors read, strict types (``true``
is not an integer, ``"3"`` is not a number) and one place where values are checked.

:func:`check` validates a table against a section and turns the first problem into one line
that names the key, says what was wrong and what is allowed (with "did you mean" for a
misspelt key); the caller adds the file. A section's own rules raise :func:`invalid`.
"""

from __future__ import annotations

import difflib
import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic_core import PydanticCustomError

#: bounds that keep a typo from starting hundreds of processes or years of work (README: Limits)
LIMITS = {"n_jobs": 1024, "repetitions": 1000, "trials": 1_000_000, "epochs": 10**9, "seconds": 10**7}
CLOSED = ConfigDict(extra="forbid", strict=True, frozen=True, validate_default=False)
OPEN = ConfigDict(extra="allow", strict=True, frozen=True, validate_default=False)


class Invalid(ValueError):
    """A problem with a config value: ``key`` (dotted, relative to the table checked) and one line."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}" if key else message)
        self.key, self.message = key, message


def invalid(key: str, message: str) -> PydanticCustomError:
    """The error a section's own rule raises: ``key`` relative to the section ("" for itself)."""
    return PydanticCustomError("hpsearch", "{message}", {"key": key, "message": message})


def show(value: Any) -> str:
    """A value as an error message shows it: its repr, cut at 60 characters, and its type."""
    text = repr(value)
    return f"{text[:60]}... ({type(value).__name__})" if len(text) > 60 else f"{text} ({type(value).__name__})"


def number(kind: type, what: str, *, ge: float | None = None, gt: float | None = None,
           le: float | None = None) -> Any:
    """A number field of ``kind`` (int, or float which takes integers too) within bounds; out of
    them (or of another type) the error says "expected WHAT, got VALUE"."""
    def check(value: Any) -> Any:
        ok = (isinstance(value, int) or (kind is float and isinstance(value, float) and math.isfinite(value)))
        ok = ok and not isinstance(value, bool) and (ge is None or value >= ge) and (gt is None or value > gt)
        if not ok or (le is not None and value > le):
            raise invalid("", f"expected {what}, got {str(value)[:40]}")
        return value
    return Annotated[kind, Field(ge=ge, gt=gt, le=le, description=what), BeforeValidator(check)]


class Section(BaseModel):
    """A closed table of the config: unknown keys are refused, with the closest known one."""

    model_config = CLOSED

    @model_validator(mode="before")
    @classmethod
    def _a_table_of_known_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise invalid("", f"expected a table, got {show(data)}")
        allowed = [f.alias or name for name, f in cls.model_fields.items()]
        for name in data:
            if not isinstance(name, str):
                raise invalid("", f"keys are names (strings), got {show(name)}")
            if cls.model_config.get("extra") == "forbid" and name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed) or 'none'}"
                raise invalid(name, f"unknown key; {hint}")
        return data

    def given(self) -> dict:
        """The keys the table gave, and those with a default that is not None, as TOML data."""
        return self.model_dump(exclude_none=True, by_alias=True)


class OpenSection(Section):
    """A table whose other keys are someone else's to check (a sampler's keyword arguments,
    an estimator's parameters): the declared keys are checked, the rest passed on."""

    model_config = OPEN


#: what a type error says the value should be, by pydantic's error type
EXPECTED = {
    "int_type": "an integer", "int_from_float": "an integer", "int_parsing": "an integer",
    "float_type": "a number", "finite_number": "a finite number", "float_parsing": "a number",
    "string_type": "a string", "bool_type": "true or false", "list_type": "a list", "tuple_type": "a list",
    "dict_type": "a table", "model_type": "a table", "model_attributes_type": "a table",
}


def check(cls: type[Section], raw: Any, context: dict | None = None) -> Section:
    """``raw`` validated as the section ``cls``; the first problem raised as :class:`Invalid`."""
    try:
        return cls.model_validate(raw, context=context)
    except ValidationError as exc:
        raise describe(exc.errors(include_url=False), raw) from None


def describe(errors: list[dict], raw: Any) -> Invalid:
    """The first of pydantic's errors as :class:`Invalid`: the key path through ``raw`` (the tags
    pydantic adds for unions and validators dropped) and a message in hpsearch's words."""
    error = errors[0]
    keys, here = [], raw
    for part in error["loc"]:
        if isinstance(here, dict) and part in here:
            here = here[part]
        elif isinstance(here, list) and isinstance(part, int) and 0 <= part < len(here):
            here = here[part]
        else:
            continue
        keys.append(str(part))
    ctx = error.get("ctx") or {}
    if error["type"] == "hpsearch":
        if ctx["key"]:
            keys.append(ctx["key"])
        return Invalid(".".join(keys), ctx["message"])
    value = error.get("input")
    kind = error["type"]
    if error["loc"] and error["loc"][-1] == "[key]":
        message = f"keys are names (strings), got {show(value)}"
    elif kind == "missing":
        message = "missing"
    elif kind == "extra_forbidden":
        message = "unknown key"
    elif kind in EXPECTED:
        message = f"expected {EXPECTED[kind]}, got {show(value)}"
    elif kind == "literal_error":
        message = f"expected one of {ctx['expected'].replace(' or ', ', ')}, got {show(value)}"
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[kind]
        bound = next(iter(ctx.values()))
        message = f"must be {sign} {bound}, got {value}"
    else:
        message = f"{error['msg']}, got {show(value)}"
    return Invalid(".".join(keys), message)


def schema_of(cls: type[BaseModel] | Any) -> dict:
    """The JSON Schema (Draft 2020-12) of a section or a type."""
    out = TypeAdapter(cls).json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **out}

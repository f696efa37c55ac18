"""Reading ``{"data": {...}}`` answers into models, and saying clearly when one does not fit.

An answer that is not JSON at all (a proxy's error page) may be gone on the next try, so it
is transient. An object that is JSON but not what the API describes (a required field
missing, text where an amount belongs) will be the same on every try: it is a
:class:`UnreadableAnswer`, a data error, and the consumer dead-letters it at once with the
fields that did not fit.
"""

from __future__ import annotations

import functools
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from clients.errors import DataError, TransientError

Model = TypeVar("Model", bound=BaseModel)

#: Fields named in an UnreadableAnswer's reason, at most (the rest are counted).
SHOWN_PROBLEMS = 5


class Envelope(BaseModel, Generic[Model]):
    data: Model


class UnreadableAnswer(DataError):
    """The API answered an object Koppel cannot read: the same on every try."""


@functools.cache
def _envelope(model: type[Model]) -> type[Envelope[Model]]:
    # The model is a value here, which mypy does not accept as a type argument.
    return Envelope[model]  # type: ignore[valid-type]


def read_envelope(service: str, endpoint: str, model: type[Model], content: bytes | str) -> Model:
    try:
        return _envelope(model).model_validate_json(content).data
    except ValidationError as invalid:
        problems = invalid.errors(include_url=False, include_input=False)
        if any(problem["type"] == "json_invalid" for problem in problems):
            raise TransientError(
                service, f"{endpoint} answered something that is not JSON"
            ) from invalid
        raise UnreadableAnswer(
            service, f"{endpoint} answered {model.__name__} Koppel cannot read: {_fields(problems)}"
        ) from invalid


def _fields(problems: list[ErrorDetails]) -> str:
    shown = [
        f"{'.'.join(str(part) for part in problem['loc'][1:]) or 'data'}: {problem['msg']}"
        for problem in problems[:SHOWN_PROBLEMS]
    ]
    more = len(problems) - SHOWN_PROBLEMS
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")

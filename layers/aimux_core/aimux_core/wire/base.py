"""The base every wire model shares: unknown fields are kept, defaults are never invented.

A gateway must forward what the client sent and nothing else. Every wire model therefore
keeps unknown fields (``extra="allow"``) and is serialised with ``exclude_unset`` so that a
field the client left out stays out. The one exception is the ``type`` discriminator: a
model built in code (``TextBlock(text="hi")``) must still say what it is, so ``type`` always
counts as set.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any, ClassVar, Literal, get_origin

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """A JSON object on the wire: extra keys survive a parse/dump round trip."""

    # allow_inf_nan=False: NaN and Infinity are not JSON numbers; a number field holding one is a 400.
    model_config = ConfigDict(extra="allow", populate_by_name=True, allow_inf_nan=False)
    _constant_fields: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # Literal-typed fields with a default (``type``, ``role``, ``object``) are constants of
        # the shape: always serialised, even on a model built in code.
        cls._constant_fields = frozenset(
            name
            for name, field in cls.model_fields.items()
            if get_origin(field.annotation) is Literal and field.default is not None
        )

    def model_post_init(self, context: Any, /) -> None:
        if self._constant_fields:
            self.__pydantic_fields_set__.update(self._constant_fields)

    def dump(self) -> dict[str, Any]:
        """The JSON-ready dict of exactly the fields that were sent or set."""
        return self.model_dump(mode="json", exclude_unset=True)

    def dump_json(self) -> str:
        """Compact JSON of exactly the fields that were sent or set."""
        return self.model_dump_json(exclude_unset=True)


OTHER_TAG = "other"


def discriminator_tag(value: Any, known: Set[str]) -> str:
    """The member of a ``type``-tagged union that ``value`` parses as: its ``type`` if known, else ``"other"``.

    Used as the ``Discriminator`` of every open union (content blocks, deltas, stream events, OpenAI
    content parts). It must accept any JSON value without raising, since an exception here is an
    internal error rather than a validation error: a ``type`` that is missing, null, a number, an
    object or a list (unhashable, so never looked up in ``known``), or a value that is not an object
    at all, goes to the ``Other*`` member. That member's ``type: str`` then fails validation with the
    field's path (``messages.0.content.1.type: Input should be a valid string``), a 400 in the
    caller's dialect.
    """
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if isinstance(kind, str) and kind in known else OTHER_TAG

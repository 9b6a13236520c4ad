"""The base of every API model: Kubernetes field names, camelCase JSON, unknown fields kept."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError


class ApiModel(BaseModel):
    """Strict like Go's JSON decoding: "80" is not an int and 80 is not a string."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        strict=True,
    )

    def to_dict(self) -> dict[str, Any]:
        """The JSON-shaped dict, camelCase, without the fields that were never set."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _int_or_string(value: Any) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticCustomError("int_or_string", "must be an integer or a string")
    return value


IntOrString = Annotated[
    int | str, PlainValidator(_int_or_string), PlainSerializer(lambda v: v, return_type=Any)
]
"""Kubernetes' intstr.IntOrString: a port number or name, a count or a percentage."""


def _quantity(value: Any) -> int | float | str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PydanticCustomError("quantity_type", "must be a quantity string or a number")
    return value


Quantity = Annotated[
    int | float | str, PlainValidator(_quantity), PlainSerializer(lambda v: v, return_type=Any)
]
"""A resource quantity as written ("500m", "128Mi", 2); parse it with `api.quantity`."""

"""Label and field selectors, as the Kubernetes API parses, matches and prints them (pure).

- `labels`: label selectors (apimachinery's `pkg/labels`), string and structured forms.
- `fields`: field selectors (`pkg/fields`) and which fields each kind supports.

The names below are the package's public surface: `selectors.parse_label_selector(text)`.
"""

from minik8s.api.selectors.fields import (
    FieldRequirement,
    FieldSelector,
    escape_field_value,
    field_value,
    parse_field_selector,
    validate_field_selector,
)
from minik8s.api.selectors.labels import (
    EVERYTHING,
    NOTHING,
    InvalidSelector,
    LabelSelector,
    Operator,
    Requirement,
    label_selector_from_object,
    label_selector_from_set,
    parse_label_selector,
)

__all__ = [
    "EVERYTHING",
    "NOTHING",
    "FieldRequirement",
    "FieldSelector",
    "InvalidSelector",
    "LabelSelector",
    "Operator",
    "Requirement",
    "escape_field_value",
    "field_value",
    "label_selector_from_object",
    "label_selector_from_set",
    "parse_field_selector",
    "parse_label_selector",
    "validate_field_selector",
]

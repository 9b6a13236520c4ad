"""Server-side apply and managed fields (`metadata.managedFields`), over the type graph.

`manager.update` records who changed what on every write; `manager.apply` is server-side
apply with conflicts and forcing. `schema.for_kind` gives the merge semantics of a kind.
"""

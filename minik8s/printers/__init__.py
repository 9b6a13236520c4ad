"""Table printers shared by the apiserver's Table responses and minikctl (Kubernetes'
`pkg/printers`): one module per API group, the Table assembly and column definitions shared.

- `columns`: `Column`, the shared `Name`/`Age` columns and cell formatting helpers.
- `core`, `apps`, `batch`, `coordination`, `policy`, `rbac`, `storage`: each kind's columns and cell
  function, one module per API group.
- `tables`: `PRINTERS` (keyed by resource type: add a kind by adding an entry) and `to_table`.
"""

"""Who may do what: roles and host-group scopes, checked on every API view, page and
admin change. Below every app that owns data: each app registers how its rows are
scoped (``access.permissions.scope_rule``)."""
